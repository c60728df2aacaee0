/**
 * The contract between the realtime server and an authentication scheme.
 *
 * @module
 */

/** The authenticated user of a connection. */
export interface RealtimeUser {
  /** The user's stable id (a JWT's `sub`). Clients can never choose it. */
  readonly id: string;
  /** The claims the application chose to expose, such as a display name or role. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** The outcome of a successful authentication. */
export interface AuthSession {
  /** Who the connection belongs to. */
  readonly user: RealtimeUser;
  /**
   * When the credential stops being valid, in milliseconds since the epoch;
   * the connection closes then unless refreshed. `null` for credentials that
   * do not expire.
   */
  readonly expiresAt: number | null;
}

/**
 * An authentication scheme for realtime connections. {@linkcode jwtAuth} is
 * the built-in one; implement this to plug in another (opaque session tokens,
 * an introspection endpoint, …).
 *
 * @example A scheme that looks tokens up in a table
 * ```ts
 * import { type WebSocketAuth } from "@kiln/core/realtime";
 * import { AuthError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const sessions = new Map([["s3cr3t-session", "user-1"]]);
 * const tableAuth: WebSocketAuth = {
 *   authenticate(token) {
 *     const id = sessions.get(token);
 *     if (!id) throw new AuthError("invalid_signature", "Unknown session");
 *     return { user: { id, claims: {} }, expiresAt: null };
 *   },
 * };
 * assert.deepEqual(await tableAuth.authenticate("s3cr3t-session"), {
 *   user: { id: "user-1", claims: {} },
 *   expiresAt: null,
 * });
 * assert.throws(() => tableAuth.authenticate("guessed"), AuthError);
 * ```
 */
export interface WebSocketAuth {
  /**
   * Verifies a token and returns whom it belongs to.
   *
   * @param token The credential, exactly as the client sent it.
   * @returns The session.
   * @throws {import("./errors.ts").AuthError} When the token is not acceptable.
   */
  authenticate(token: string): AuthSession | Promise<AuthSession>;
}
