/**
 * The `error` message a connection answers a refused or malformed request with.
 *
 * @module
 */
import type { RealtimeWireErrorCode, ServerMessage } from "./protocol.ts";

/** Builds an `error` message; `channel` names the channel the request was about. */
export function errorMessage(
  code: RealtimeWireErrorCode,
  message: string,
  channel?: string,
): ServerMessage {
  return { type: "error", code, message, ...(channel !== undefined ? { channel } : {}) };
}
