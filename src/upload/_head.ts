/** HEAD: where an upload stands, so a client knows where to resume. */
import { expiresHeader, missingReply, type Reply } from "./_reply.ts";
import { concatHeader } from "./_concat.ts";
import type { Config } from "./_config.ts";

/** Answers a HEAD with the upload's offset, length, metadata, expiry and concatenation. */
export async function head(config: Config, request: Request, id: string): Promise<Reply> {
  const record = await config.state.get(id);
  const missing = missingReply(record, config.now);
  if (missing) return missing;
  const found = record!;
  return {
    status: 200,
    headers: {
      "Cache-Control": "no-store",
      "Upload-Offset": String(found.offset),
      ...(found.length === null
        ? { "Upload-Defer-Length": "1" }
        : { "Upload-Length": String(found.length) }),
      ...(found.rawMetadata === null ? {} : { "Upload-Metadata": found.rawMetadata }),
      ...expiresHeader(found),
      ...concatHeader(config, request, found),
    },
  };
}
