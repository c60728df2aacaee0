import type { UploadRecord } from "./state.ts";
import type { UploadInfo } from "./server_options.ts";

/** What hooks are told about an upload: its record without the bookkeeping. */
export function uploadInfo(record: UploadRecord): UploadInfo {
  return {
    id: record.id,
    length: record.length,
    offset: record.offset,
    metadata: record.metadata,
    type: record.type,
  };
}
