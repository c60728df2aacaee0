/**
 * Pusher's HTTP API request signature: `auth_key`, `auth_timestamp`,
 * `auth_version`, `body_md5` and `auth_signature` in the query string.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";
import { md5 } from "@noble/hashes/legacy.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import type { Clock } from "../../clock.ts";
import type { PusherApp } from "./app.ts";
import { verify } from "./_signature.ts";

/** How far `auth_timestamp` may be from the server's clock, as Pusher allows: 600 s. */
export const TIMESTAMP_WINDOW = 600_000;

/**
 * Checks a request's signature; throws a 401 `HTTPException` when it is missing,
 * stale, for another key, for another body, or forged.
 *
 * An identical request inside the window passes again: the server SDKs sign
 * to the second, so two equal `trigger()` calls in one second carry one
 * signature, and Pusher accepts both. Any change to the method, path, query or
 * body breaks the signature.
 */
export async function verifyRequest(
  request: { method: string; url: string },
  body: string,
  app: PusherApp,
  clock: Clock,
): Promise<void> {
  const url = new URL(request.url);
  const params = new Map<string, string>();
  for (const [key, value] of url.searchParams) {
    // A repeated key would sign one value and act on another.
    if (params.has(key.toLowerCase())) throw unauthorized(`Repeated query parameter ${key}`);
    params.set(key.toLowerCase(), value);
  }
  if (params.get("auth_key") !== app.key) throw unauthorized("Unknown auth_key");
  if (params.get("auth_version") !== "1.0") throw unauthorized("auth_version must be 1.0");
  const timestamp = Number(params.get("auth_timestamp"));
  if (!Number.isSafeInteger(timestamp)) throw unauthorized("auth_timestamp is missing");
  if (Math.abs(clock.now() - timestamp * 1_000) > TIMESTAMP_WINDOW) {
    throw unauthorized("auth_timestamp is more than 600 s away from the server's time");
  }
  const bodyMd5 = params.get("body_md5");
  if (body !== "" || bodyMd5 !== undefined) {
    if (bodyMd5 !== bytesToHex(md5(new TextEncoder().encode(body)))) {
      throw unauthorized("body_md5 does not match the body");
    }
  }
  const signature = params.get("auth_signature");
  if (signature === undefined) throw unauthorized("auth_signature is missing");
  params.delete("auth_signature");
  const query = [...params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`).join("&");
  const signed = `${request.method.toUpperCase()}\n${url.pathname}\n${query}`;
  if (!(await verify(app.secret, signed, signature))) throw unauthorized("Invalid signature");
}

function unauthorized(message: string): HTTPException {
  return new HTTPException(401, { message });
}
