/**
 * Errors of the realtime module.
 *
 * @module
 */
import { KilnError, type KilnErrorOptions } from "../errors.ts";
import type { RealtimeWireErrorCode } from "./protocol.ts";

/**
 * Why a token was rejected, safe to show a client (it never repeats the token
 * or says which check passed).
 */
export type AuthFailure =
  | "missing"
  | "malformed"
  | "invalid_signature"
  | "expired"
  | "not_yet_valid"
  | "claim_mismatch"
  | "unsupported_algorithm"
  | "key_unavailable";

/**
 * A token was missing or failed verification. {@linkcode realtime} answers it
 * with 401 and `WWW-Authenticate` before upgrading; an in-band refresh answers
 * it with an `{type:"error", code:"refresh_rejected"}` message.
 *
 * @example Telling an expired token from a forged one
 * ```ts
 * import { AuthError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new AuthError("expired", "The token has expired");
 * assert.equal(error.code, "REALTIME_AUTH_FAILED");
 * assert.equal(error.reason, "expired");
 * ```
 */
export class AuthError extends KilnError {
  /** Which check failed. */
  readonly reason: AuthFailure;

  /**
   * Creates an authentication error.
   *
   * @param reason Which check failed.
   * @param message A sentence-case message without a trailing period.
   * @param options The underlying error, if any.
   */
  constructor(reason: AuthFailure, message: string, options: KilnErrorOptions = {}) {
    super("REALTIME_AUTH_FAILED", message, options);
    this.reason = reason;
  }
}

/**
 * The hub was closed ({@linkcode import("./hub.ts").Hub.close}): it admits,
 * connects and broadcasts no more. {@linkcode realtime} answers an upgrade that
 * meets a closed hub with 503.
 *
 * @example Broadcasting after close
 * ```ts
 * import { Hub } from "@kiln/core/realtime";
 * import { HubClosedError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const hub = new Hub();
 * await hub.close();
 * await assert.rejects(hub.broadcast("news", "late", null), HubClosedError);
 * ```
 */
export class HubClosedError extends KilnError {
  /** Creates the error; its code is `REALTIME_HUB_CLOSED`. */
  constructor() {
    super("REALTIME_HUB_CLOSED", "The hub is closed");
  }
}

/**
 * `RealtimeClient.connect()` failed: the connection closed before the
 * server's `welcome` (the upgrade was refused, a connection middleware
 * refused it, or the network dropped it).
 *
 * @example Reading the close code
 * ```ts
 * import { CloseCode } from "@kiln/core/realtime";
 * import { ConnectionClosedError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new ConnectionClosedError(CloseCode.Refused);
 * assert.equal(error.code, "REALTIME_CONNECTION_CLOSED");
 * assert.equal(error.closeCode, 4000);
 * ```
 */
export class ConnectionClosedError extends KilnError {
  /** The WebSocket close code (see `CloseCode`; 1006 when the upgrade itself failed). */
  readonly closeCode: number;

  /**
   * Creates the error.
   *
   * @param closeCode The WebSocket close code.
   */
  constructor(closeCode: number) {
    super("REALTIME_CONNECTION_CLOSED", `Connection closed before welcome (code ${closeCode})`);
    this.closeCode = closeCode;
  }
}

/**
 * The server refused a `RealtimeClient.subscribe()`: `reason` is the wire
 * error code it answered with (`forbidden`, `too_many_subscriptions`, …).
 *
 * @example Telling a forbidden channel apart
 * ```ts
 * import { SubscriptionRefusedError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new SubscriptionRefusedError("private-user.2", "forbidden", "Not allowed");
 * assert.equal(error.code, "REALTIME_SUBSCRIPTION_REFUSED");
 * assert.equal(error.reason, "forbidden");
 * assert.equal(error.channel, "private-user.2");
 * ```
 */
export class SubscriptionRefusedError extends KilnError {
  /** The channel that was refused. */
  readonly channel: string;
  /** The server's wire error code. */
  readonly reason: RealtimeWireErrorCode;

  /**
   * Creates the error.
   *
   * @param channel The channel.
   * @param reason The wire error code.
   * @param message The server's message.
   */
  constructor(channel: string, reason: RealtimeWireErrorCode, message: string) {
    super("REALTIME_SUBSCRIPTION_REFUSED", `${reason}: ${message}`);
    this.channel = channel;
    this.reason = reason;
  }
}
