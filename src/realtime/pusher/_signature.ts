/**
 * Pusher's signatures: HMAC-SHA256 of a string under the app's secret, in hex.
 * Verified with Web Crypto's `verify`, which compares in constant time.
 *
 * @module
 */
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    // A handful of apps per process; a lookup function answering fresh secrets stays bounded.
    if (keys.size >= 1_000) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/** The hex HMAC-SHA256 of `text` under `secret`. */
export async function sign(secret: string, text: string): Promise<string> {
  const signature = await crypto.subtle.sign("HMAC", await keyFor(secret), encoder.encode(text));
  return bytesToHex(new Uint8Array(signature));
}

/** Whether `signature` is the hex HMAC-SHA256 of `text` under `secret`, compared in constant time. */
export async function verify(secret: string, text: string, signature: string): Promise<boolean> {
  const bytes = fromHex(signature);
  if (bytes === null) return false;
  return await crypto.subtle.verify("HMAC", await keyFor(secret), bytes, encoder.encode(text));
}

/** `key:signature`, as Pusher's `auth` fields carry it. */
export async function authString(
  app: { key: string; secret: string },
  text: string,
): Promise<string> {
  return `${app.key}:${await sign(app.secret, text)}`;
}

/** Checks an `auth` field (`key:signature`) against the app's key and the signed text. */
export async function verifyAuth(
  app: { key: string; secret: string },
  auth: unknown,
  text: string,
): Promise<boolean> {
  if (typeof auth !== "string") return false;
  const colon = auth.indexOf(":");
  if (colon < 0 || auth.slice(0, colon) !== app.key) return false;
  return await verify(app.secret, text, auth.slice(colon + 1));
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> | null {
  // A SHA-256 is 32 bytes; anything else (or not hex) cannot match.
  if (hex.length !== 64 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
  return new Uint8Array(hexToBytes(hex));
}
