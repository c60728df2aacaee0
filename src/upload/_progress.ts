/**
 * Telling the world where an upload stands: the `onProgress` hook and the
 * optional realtime broadcast, neither of which may hold up or fail an upload.
 */
import type { Config } from "./_config.ts";
import type { UploadRecord } from "./state.ts";
import type { UploadProgress } from "./server_options.ts";
import { uploadInfo } from "./_upload_info.ts";

/** Whether anyone listens to an upload's progress, so the byte loop can skip the clock. */
export function isReported(config: Config, record: UploadRecord): boolean {
  return config.onProgress !== undefined || channelOf(config, record) !== null;
}

/** Tells `onProgress` and the realtime channel where an upload stands. */
export function reportProgress(config: Config, record: UploadRecord, offset: number): void {
  config.onProgress?.({ id: record.id, offset, length: record.length });
  broadcast(config, record, "progress", offset);
}

/** Announces on the realtime channel that the last byte is stored. */
export function broadcastComplete(config: Config, record: UploadRecord): void {
  broadcast(config, record, "complete", record.offset);
}

/**
 * Announces a finished upload: the realtime `complete` event, then
 * `onComplete`; a throwing hook is told to `onError` and the upload stays complete.
 */
export async function announceComplete(config: Config, record: UploadRecord): Promise<void> {
  broadcastComplete(config, record);
  try {
    await config.onComplete?.(uploadInfo(record));
  } catch (error) {
    config.onError(error, uploadInfo(record), "onComplete");
  }
}

/** Asks `broadcastProgress.channel` once, at creation; a failure only means no broadcasts. */
export function chooseChannel(
  config: Config,
  record: UploadRecord,
  request: Request,
): string | null {
  const settings = config.broadcast;
  if (settings === null) return null;
  try {
    const channel = settings.channel(uploadInfo(record), request);
    if (channel === undefined) return null;
    if (typeof channel !== "string" || channel.length === 0) {
      throw new TypeError(
        `broadcastProgress.channel must return a channel name or undefined, got ${
          JSON.stringify(channel)
        }`,
      );
    }
    return channel;
  } catch (error) {
    config.onError(error, uploadInfo(record), "broadcastProgress");
    return null;
  }
}

/** Queues a broadcast for the upload's channel, if it has one; never waits for it. */
function broadcast(
  config: Config,
  record: UploadRecord,
  kind: "progress" | "complete",
  offset: number,
): void {
  const settings = config.broadcast;
  const channel = channelOf(config, record);
  if (settings === null || channel === null) return;
  const data: UploadProgress = { id: record.id, offset, length: record.length };
  const upload = { ...uploadInfo(record), offset };
  settings.sender.send(record.id, {
    channel,
    event: kind === "progress" ? settings.event : settings.completeEvent,
    data,
    coalesce: kind === "progress",
    onError: (error) => config.onError(error, upload, "broadcastProgress"),
  });
}

function channelOf(config: Config, record: UploadRecord): string | null {
  return config.broadcast === null ? null : record.channel ?? null;
}
