/**
 * The tus `concatenation` extension: `Upload-Concat: partial` marks an
 * upload sent to be joined (tus-js-client's `parallelUploads` sends several
 * at once), and `Upload-Concat: final;<url> <url> …` creates a finished
 * upload from finished partial ones, joined by the store
 * (`UploadStore.concatenate()`: server-side part copies in S3 and R2). The
 * final upload's type, when `allowedTypes` is set, is checked on its first
 * bytes before anything is joined; partial uploads are not checked alone,
 * since one may start mid-file.
 */
import { detectType, SNIFF_LENGTH } from "./_file_type.ts";
import { ID } from "./_protocol.ts";
import { locationOf } from "./_location.ts";
import { announceComplete, chooseChannel } from "./_progress.ts";
import { uploadInfo } from "./_upload_info.ts";
import { missingReply, refusalReply, type Reply } from "./_reply.ts";
import { UploadError } from "./errors.ts";
import type { Config } from "./_config.ts";
import type { UploadRecord } from "./state.ts";
import type { UploadStore } from "./store.ts";

/** More partial uploads than this in one final upload are refused (tus-js-client sends a few). */
export const MAX_PARTIALS = 1000;

/** What an `Upload-Concat` header asks for. */
export type Concat = { kind: "partial" } | { kind: "final"; ids: string[] };

/**
 * Reads `Upload-Concat`.
 *
 * @returns What it asks for, `null` when absent, or a message for a 400.
 */
export function parseConcat(value: string | null, request: Request): Concat | null | string {
  if (value === null) return null;
  const trimmed = value.trim();
  if (trimmed === "partial") return { kind: "partial" };
  if (!trimmed.startsWith("final;")) return 'Upload-Concat must be "partial" or "final;<urls>"';
  const urls = trimmed.slice("final;".length).trim().split(/ +/).filter((url) => url !== "");
  if (urls.length === 0) return "Upload-Concat final names no partial upload";
  if (urls.length > MAX_PARTIALS) return `Upload-Concat final names over ${MAX_PARTIALS} uploads`;
  const ids: string[] = [];
  for (const url of urls) {
    let id: string | undefined;
    try {
      id = new URL(url, request.url).pathname.split("/").pop();
    } catch {
      // Not a URL: refused below.
    }
    if (!id || !ID.test(id)) return `Upload-Concat names ${JSON.stringify(url.slice(0, 200))}`;
    ids.push(id);
  }
  return { kind: "final", ids };
}

/** `Upload-Concat` for a HEAD of a partial or final upload, with the partials' URLs. */
export function concatHeader(
  config: Config,
  request: Request,
  record: UploadRecord,
): Record<string, string> {
  if (record.concat === "partial") return { "Upload-Concat": "partial" };
  if (!Array.isArray(record.concat)) return {};
  // Locations are built as at creation, from the collection's URL (this one less the id).
  const collection = { url: new URL(".", request.url).href, headers: request.headers } as Request;
  const urls = record.concat.map((id) => locationOf(config, collection, id));
  return { "Upload-Concat": `final;${urls.join(" ")}` };
}

/**
 * Creates a final upload from finished partial ones: checks each, the total
 * length and the type, asks `onCreate`, joins the bytes in the store, then
 * records the upload as complete and announces it.
 */
export async function createFinal(
  config: Config,
  request: Request,
  ids: string[],
  metadata: Pick<UploadRecord, "metadata" | "rawMetadata">,
): Promise<Reply> {
  const store = config.store;
  if (!store.concatenate) {
    return { status: 400, message: "This server's store cannot join uploads (concatenation)" };
  }
  if (request.headers.has("Upload-Length")) {
    return { status: 400, message: "A final upload takes its length from its partial uploads" };
  }
  let length = 0;
  for (const id of ids) {
    const partial = await config.state.get(id);
    if (missingReply(partial, config.now) || partial!.concat !== "partial") {
      return { status: 400, message: `Upload ${id} is not a partial upload of this server` };
    }
    if (partial!.length === null || partial!.offset !== partial!.length) {
      return { status: 400, message: `Partial upload ${id} is not finished` };
    }
    length += partial!.length;
  }
  if (length > config.maxSize) {
    return {
      status: 413,
      message: `The joined upload exceeds the maximum of ${config.maxSize} bytes`,
    };
  }
  let type: string | null = null;
  if (config.allowedTypes) {
    const found = await detectType(await firstBytes(store, ids), config.allowedTypes);
    if (!found.allowed) {
      return { status: 415, message: `File type ${found.mime ?? "unknown"} is not allowed` };
    }
    type = found.mime!;
  }
  const now = config.now();
  const record: UploadRecord = {
    id: config.generateId(),
    length,
    offset: length,
    ...metadata,
    createdAt: now,
    expiresAt: null,
    completedAt: now,
    type,
    head: null,
    sweepAt: config.keepCompletedFor === null ? null : now + config.keepCompletedFor,
    channel: null,
    concat: ids,
  };
  const refusal = await config.onCreate?.(uploadInfo(record), request);
  if (refusal) return refusalReply(refusal);
  record.channel = chooseChannel(config, record, request);
  await store.concatenate(record.id, ids);
  try {
    if (!(await config.state.create(record))) {
      throw new UploadError("UPLOAD_EXISTS", `Upload id ${record.id} is already taken`);
    }
  } catch (error) {
    await store.delete(record.id).catch(() => {});
    throw error;
  }
  await announceComplete(config, record);
  return { status: 201, headers: { Location: locationOf(config, request, record.id) } };
}

/** The first bytes of the joined file, enough to find its type. */
async function firstBytes(store: UploadStore, ids: string[]): Promise<Uint8Array> {
  const head = new Uint8Array(SNIFF_LENGTH);
  let filled = 0;
  for (const id of ids) {
    const reader = (await store.read(id))?.getReader();
    while (reader && filled < SNIFF_LENGTH) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.byteLength, SNIFF_LENGTH - filled);
      head.set(value.subarray(0, take), filled);
      filled += take;
    }
    await reader?.cancel();
    if (filled === SNIFF_LENGTH) break;
  }
  return head.subarray(0, filled);
}
