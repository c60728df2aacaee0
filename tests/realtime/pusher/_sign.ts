/**
 * Pusher request signing done the way the server SDKs do it, with Node's
 * crypto, so the tests check the server against an implementation it does not share.
 *
 * @module
 */
import { createHash, createHmac } from "node:crypto";
import { APP } from "./_server.ts";

/** HMAC-SHA256 in hex. */
export function hmac(secret: string, text: string): string {
  return createHmac("sha256", secret).update(text).digest("hex");
}

/** A signed HTTP API URL path with query, as `pusher` signs it (values unescaped in the signed text). */
export function signedPath(
  method: string,
  path: string,
  options: {
    body?: string;
    params?: Record<string, string>;
    timestamp?: number;
    secret?: string;
    key?: string;
  } = {},
): string {
  const params: Record<string, string> = {
    auth_key: options.key ?? APP.key,
    auth_timestamp: String(options.timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: "1.0",
    ...(options.body !== undefined
      ? { body_md5: createHash("md5").update(options.body).digest("hex") }
      : {}),
    ...options.params,
  };
  const query = Object.keys(params).sort().map((key) => `${key}=${params[key]}`).join("&");
  const signature = hmac(options.secret ?? APP.secret, `${method}\n${path}\n${query}`);
  const encoded = new URLSearchParams({ ...params, auth_signature: signature });
  return `${path}?${encoded}`;
}
