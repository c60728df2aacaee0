/** Recognising a file's type from its first bytes, never from the client's claims. */
import { fileTypeFromBuffer } from "file-type/core";

/** How many first bytes `file-type` needs to recognise every format it knows. */
export const SNIFF_LENGTH = 4100;

/** The first bytes so far plus the start of the next chunk, up to {@linkcode SNIFF_LENGTH}. */
export function appendHead(head: Uint8Array, chunk: Uint8Array): Uint8Array {
  const joined = new Uint8Array(Math.min(SNIFF_LENGTH, head.byteLength + chunk.byteLength));
  joined.set(head);
  joined.set(chunk.subarray(0, joined.byteLength - head.byteLength), head.byteLength);
  return joined;
}

/**
 * Finds the MIME type of a file's first bytes and whether `allowed` accepts
 * it, exactly or through a `type/*` family.
 */
export async function detectType(
  head: Uint8Array,
  allowed: readonly string[],
): Promise<{ allowed: boolean; mime: string | undefined }> {
  const found = await fileTypeFromBuffer(head);
  const mime = found?.mime.toLowerCase();
  if (!mime) return { allowed: false, mime };
  const family = `${mime.split("/")[0]}/*`;
  return { allowed: allowed.includes(mime) || allowed.includes(family), mime };
}
