/**
 * Concatenation in object storage: the new file is a multipart upload whose
 * parts are all `partSize` bytes but the last (R2's rule, and S3's 5 MiB
 * minimum), so part boundaries fall wherever they fall in the sources. A part
 * inside one source is copied by the bucket (`UploadPartCopy` on S3); a part
 * spanning sources, which only happens next to a source shorter than a part
 * or at a boundary, is read range by range into one buffer and uploaded.
 */
import { UploadError } from "./errors.ts";
import type { ObjectUploadContext } from "./_object_upload.ts";
import type { StoredFile } from "./store.ts";

interface Source {
  key: string;
  start: number;
  size: number;
}

export async function concatenateObjects(
  context: ObjectUploadContext,
  path: string,
  key: string,
  paths: readonly string[],
  keyOf: (path: string) => string,
): Promise<StoredFile> {
  const { bucket, partSize } = context;
  const sources: Source[] = [];
  let total = 0;
  for (const source of paths) {
    const sourceKey = keyOf(source);
    const size = await bucket.size(sourceKey);
    if (size === null) throw new UploadError("UPLOAD_NOT_FOUND", `No finished file at ${source}`);
    sources.push({ key: sourceKey, start: total, size });
    total += size;
  }
  if (total <= partSize) {
    // One part at most: a plain object, read once (at most one part in memory).
    await bucket.put(key, await gather(context, sources, 0, total));
    return { path, size: total };
  }
  const uploadId = await bucket.createMultipart(key);
  try {
    const parts = [];
    for (let start = 0, number = 1; start < total; start += partSize, number++) {
      const end = Math.min(start + partSize, total);
      const inside = sources.find((s) => s.start <= start && end <= s.start + s.size);
      const target = { key, uploadId, number };
      const etag = inside
        ? await bucket.copyPart(target, inside.key, {
          offset: start - inside.start,
          length: end - start,
        })
        : await bucket.uploadPart(target, await gather(context, sources, start, end));
      parts.push({ number, etag });
    }
    await bucket.completeMultipart(key, uploadId, parts);
  } catch (error) {
    await bucket.abortMultipart(key, uploadId).catch(() => {});
    throw error;
  }
  return { path, size: total };
}

/** Bytes `start` to `end` of the sources joined, read range by range. */
async function gather(
  context: ObjectUploadContext,
  sources: Source[],
  start: number,
  end: number,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(end - start);
  for (const source of sources) {
    const from = Math.max(start, source.start);
    const to = Math.min(end, source.start + source.size);
    if (from >= to) continue;
    const found = await context.bucket.get(source.key, {
      offset: from - source.start,
      length: to - from,
    });
    if (!found || found.bytes.byteLength !== to - from) {
      throw new UploadError("UPLOAD_NOT_FOUND", `The file at ${source.key} changed while joining`);
    }
    bytes.set(found.bytes, from - start);
  }
  return bytes;
}
