/**
 * Finds the token of an upgrade request.
 *
 * @module
 */
import { BEARER_PREFIX, PROTOCOL } from "./protocol.ts";

/** Where tokens may come from. */
export interface TokenSources {
  cookie: string | null;
  query: string | null;
}

/** A token and where it came from, or why the request is malformed. */
export type Extracted =
  | { token: string; from: "protocol" | "cookie" | "query" }
  | { token: null; badProtocol?: string };

/** Reads `Sec-WebSocket-Protocol: kiln.v1, bearer.<jwt>`, then the cookie, then `?token=`. */
export function extractToken(request: Request, sources: TokenSources): Extracted {
  const header = request.headers.get("sec-websocket-protocol");
  if (header) {
    const offered = header.split(",").map((item) => item.trim()).filter(Boolean);
    const bearer = offered.find((item) => item.startsWith(BEARER_PREFIX));
    // Adapters echo the first offered subprotocol: it must be ours, or the token would be reflected.
    if (offered[0] !== PROTOCOL) {
      return { token: null, badProtocol: `The first subprotocol must be ${PROTOCOL}` };
    }
    if (bearer) return { token: bearer.slice(BEARER_PREFIX.length), from: "protocol" };
  }
  if (sources.cookie) {
    const token = readCookie(request.headers.get("cookie"), sources.cookie);
    if (token) return { token, from: "cookie" };
  }
  if (sources.query) {
    const token = new URL(request.url).searchParams.get(sources.query);
    if (token) return { token, from: "query" };
  }
  return { token: null };
}

function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const index = part.indexOf("=");
    if (index < 0) continue;
    if (part.slice(0, index).trim() !== name) continue;
    const value = part.slice(index + 1).trim();
    try {
      return decodeURIComponent(value) || null;
    } catch {
      return null;
    }
  }
  return null;
}
