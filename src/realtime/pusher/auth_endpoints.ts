/**
 * The application's side of Pusher's authorization: the endpoints pusher-js
 * and Laravel Echo call (`/broadcasting/auth`, `/broadcasting/user-auth`) to
 * get a subscription or a sign-in signed.
 *
 * @module
 */
import type { Context, Handler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { RealtimeUser } from "../auth.ts";
import type { AuthorizeResult } from "../connection.ts";
import { CHANNEL_NAME_PATTERN, type ChannelInfo, channelInfo } from "../protocol.ts";
import type { PusherApp } from "./app.ts";
import { authString } from "./_signature.ts";

/**
 * Finds the user a request comes from (the application's session cookie, a
 * JWT, …), or `null` for nobody: the answer is then 403, as Laravel gives.
 */
export type PusherAuthenticate = (
  c: Context,
) => RealtimeUser | null | Promise<RealtimeUser | null>;

/** Options for {@linkcode pusherAuth}. */
export interface PusherAuthOptions {
  /** The app whose secret signs the answers. */
  app: Pick<PusherApp, "key" | "secret">;
  /** Who is asking. */
  authenticate: PusherAuthenticate;
  /**
   * Decides `private-…` and `presence-…` channels, as Kiln's own `authorize`
   * does: `true` allows, an object allows and becomes the presence member's
   * `user_info`, anything else refuses (403).
   */
  authorize: (
    user: RealtimeUser,
    channel: ChannelInfo,
  ) => AuthorizeResult | Promise<AuthorizeResult>;
  /**
   * The 32-byte master key (base64) that per-channel secrets of
   * `private-encrypted-…` channels derive from, as the `pusher` SDK's
   * `encryptionMasterKeyBase64`. Without it encrypted channels are refused.
   */
  encryptionMasterKey?: string;
}

/** Options for {@linkcode pusherUserAuth}. */
export interface PusherUserAuthOptions {
  /** The app whose secret signs the answers. */
  app: Pick<PusherApp, "key" | "secret">;
  /** Who is asking. */
  authenticate: PusherAuthenticate;
  /**
   * What clients see of the user besides `id` (`pusher.user.user_data`).
   * @default the user's claims
   */
  userInfo?: (user: RealtimeUser) => Record<string, unknown>;
}

const SOCKET_ID = /^\d+\.\d+$/;

/**
 * The handler for `POST /broadcasting/auth`: signs a private channel
 * (`{ auth }`), a presence channel (`{ auth, channel_data }`) or an encrypted
 * one (`{ auth, shared_secret }`) for the socket that asks. Reads
 * `socket_id` and `channel_name` from a form or a JSON body.
 *
 * Answers 403 when `authenticate` finds nobody or `authorize` refuses, 400
 * for a malformed socket id or channel name or a public channel (those need no
 * signature).
 *
 * @param options The app, how to find the user, and the channel authorizer.
 * @returns A Hono handler.
 * @throws {TypeError} When the app's key or secret, or a function, is missing,
 *   or the master key is not 32 bytes of base64.
 *
 * @example Signing a presence channel for a signed-in user
 * ```ts
 * import { Hono } from "hono";
 * import { pusherAuth } from "@kiln/core/realtime/pusher";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.post("/broadcasting/auth", pusherAuth({
 *   app: { key: "app-key", secret: "app-secret" },
 *   authenticate: (c) => c.req.header("x-user") ? { id: c.req.header("x-user")!, claims: {} } : null,
 *   authorize: (user, channel) => channel.name === "presence-room.1" && { name: `User ${user.id}` },
 * }));
 * const response = await app.request("/broadcasting/auth", {
 *   method: "POST",
 *   headers: { "x-user": "7", "content-type": "application/x-www-form-urlencoded" },
 *   body: "socket_id=123.456&channel_name=presence-room.1",
 * });
 * const answer = await response.json();
 * assert.match(answer.auth, /^app-key:[0-9a-f]{64}$/);
 * assert.deepEqual(JSON.parse(answer.channel_data), { user_id: "7", user_info: { name: "User 7" } });
 * ```
 */
export function pusherAuth(options: PusherAuthOptions): Handler {
  const app = checkApp(options);
  if (typeof options.authorize !== "function") throw new TypeError("pusherAuth needs authorize");
  const masterKey = options.encryptionMasterKey === undefined
    ? null
    : decodeMasterKey(options.encryptionMasterKey);
  return async function pusherAuthHandler(c) {
    const fields = await readFields(c);
    const socketId = socket(fields.get("socket_id"));
    const name = fields.get("channel_name");
    if (name === undefined || !CHANNEL_NAME_PATTERN.test(name)) {
      throw new HTTPException(400, { message: "Invalid channel_name" });
    }
    const channel = channelInfo(name);
    if (channel.kind === "public") {
      throw new HTTPException(400, { message: "Public channels need no authorization" });
    }
    const user = await findUser(options.authenticate, c);
    const verdict = await options.authorize(user, channel);
    if (!verdict) throw new HTTPException(403, { message: "Forbidden" });
    if (channel.kind === "presence") {
      const channelData = JSON.stringify({
        user_id: user.id,
        user_info: typeof verdict === "object" ? verdict : {},
      });
      return c.json({
        auth: await authString(app, `${socketId}:${name}:${channelData}`),
        channel_data: channelData,
      });
    }
    const auth = await authString(app, `${socketId}:${name}`);
    if (!name.startsWith("private-encrypted-")) return c.json({ auth });
    if (masterKey === null) {
      // pusher-js cannot decrypt without a shared secret; say so instead of a silent failure.
      throw new HTTPException(403, { message: "Encrypted channels need an encryptionMasterKey" });
    }
    return c.json({ auth, shared_secret: await sharedSecret(name, masterKey) });
  };
}

/**
 * The handler for `POST /broadcasting/user-auth`: signs the user's sign-in
 * (`pusher.signin()` in pusher-js) as `{ auth, user_data }` for the socket
 * that asks; 403 when `authenticate` finds nobody.
 *
 * @param options The app, how to find the user, and what clients see of them.
 * @returns A Hono handler.
 * @throws {TypeError} When the app's key or secret, or `authenticate`, is missing.
 *
 * @example Signing a user in
 * ```ts
 * import { Hono } from "hono";
 * import { pusherUserAuth } from "@kiln/core/realtime/pusher";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.post("/broadcasting/user-auth", pusherUserAuth({
 *   app: { key: "app-key", secret: "app-secret" },
 *   authenticate: () => ({ id: "7", claims: { name: "Ada" } }),
 * }));
 * const response = await app.request("/broadcasting/user-auth", {
 *   method: "POST",
 *   headers: { "content-type": "application/x-www-form-urlencoded" },
 *   body: "socket_id=123.456",
 * });
 * const answer = await response.json();
 * assert.deepEqual(JSON.parse(answer.user_data), { id: "7", name: "Ada" });
 * ```
 */
export function pusherUserAuth(options: PusherUserAuthOptions): Handler {
  const app = checkApp(options);
  const userInfo = options.userInfo ?? ((user: RealtimeUser) => ({ ...user.claims }));
  return async function pusherUserAuthHandler(c) {
    const fields = await readFields(c);
    const socketId = socket(fields.get("socket_id"));
    const user = await findUser(options.authenticate, c);
    const userData = JSON.stringify({ ...userInfo(user), id: user.id });
    return c.json({
      auth: await authString(app, `${socketId}::user::${userData}`),
      user_data: userData,
    });
  };
}

function checkApp(options: { app: Pick<PusherApp, "key" | "secret">; authenticate: unknown }) {
  const { app } = options ?? {};
  if (typeof app?.key !== "string" || typeof app.secret !== "string" || !app.key || !app.secret) {
    throw new TypeError("The Pusher app needs its key and secret");
  }
  if (typeof options.authenticate !== "function") throw new TypeError("authenticate is required");
  return app;
}

async function findUser(authenticate: PusherAuthenticate, c: Context): Promise<RealtimeUser> {
  const user = await authenticate(c);
  if (!user) throw new HTTPException(403, { message: "Forbidden" });
  return user;
}

function socket(id: string | undefined): string {
  if (id === undefined || !SOCKET_ID.test(id)) {
    throw new HTTPException(400, { message: "Invalid socket_id" });
  }
  return id;
}

/** pusher-js posts a form; other clients post JSON. */
async function readFields(c: Context): Promise<Map<string, string>> {
  const type = c.req.header("content-type") ?? "";
  const fields = new Map<string, string>();
  try {
    if (type.includes("application/json")) {
      const json = await c.req.json();
      for (const [key, value] of Object.entries(json ?? {})) {
        if (typeof value === "string") fields.set(key, value);
      }
    } else {
      for (const [key, value] of new URLSearchParams(await c.req.text())) fields.set(key, value);
    }
  } catch {
    throw new HTTPException(400, { message: "Unreadable body" });
  }
  return fields;
}

function decodeMasterKey(base64: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  } catch {
    throw new TypeError("encryptionMasterKey must be base64");
  }
  if (bytes.length !== 32) throw new TypeError("encryptionMasterKey must be 32 bytes");
  return bytes;
}

/** Pusher's per-channel secret: SHA-256 of the channel name followed by the master key, in base64. */
async function sharedSecret(channel: string, masterKey: Uint8Array): Promise<string> {
  const name = new TextEncoder().encode(channel);
  const input = new Uint8Array(name.length + masterKey.length);
  input.set(name);
  input.set(masterKey, name.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  return btoa(String.fromCharCode(...digest));
}
