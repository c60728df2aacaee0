/**
 * Errors of the realtime module.
 *
 * @module
 */
import { KilnError, type KilnErrorOptions } from "../errors.ts";

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
 * import { AuthError } from "@kiln/core/realtime";
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
