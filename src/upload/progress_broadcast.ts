/**
 * Publishing upload progress to a realtime channel, so a page other than the
 * uploading one (another tab, an admin view) can follow an upload.
 *
 * @module
 */
import type { UploadInfo } from "./server_options.ts";

/**
 * Anything that can broadcast an event to a channel, such as the `Hub` of
 * `@kiln/core/realtime`. Typed by shape so uploads never load the realtime module.
 */
export interface ProgressHub {
  /**
   * Sends an event to every subscriber of a channel.
   *
   * @param channel The channel name.
   * @param event The event name.
   * @param data The payload, `{ id, offset, length }`.
   * @returns Anything; a promise is awaited off the byte path and its rejection reported.
   */
  broadcast(channel: string, event: string, data: unknown): Promise<unknown> | unknown;
}

/** The `broadcastProgress` option of {@linkcode import("./server.ts").uploads}. */
export interface BroadcastProgressOptions {
  /** Where events go, for example a realtime `Hub`. */
  hub: ProgressHub;
  /**
   * Chooses the channel of one upload, once, when it is created: return a
   * channel name, or `undefined` to broadcast nothing for this upload. The
   * choice is kept in the upload's record, so a resume on another instance
   * publishes to the same channel. Take the user from the authenticated
   * request, never from the client's metadata alone.
   *
   * @param upload The upload being created (offset 0, type not yet known).
   * @param request The creating request.
   * @returns The channel, or `undefined` for none.
   */
  channel(upload: UploadInfo, request: Request): string | undefined;
  /** The event sent while bytes arrive. @default "upload.progress" */
  event?: string;
  /** The event sent once, after the last byte is stored. @default "upload.complete" */
  completeEvent?: string;
}
