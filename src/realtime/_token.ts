/**
 * Finds the token of an upgrade request.
 *
 * @module
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
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
export function extractToken(c: Context, sources: TokenSources): Extracted {
  const header = c.req.header("sec-websocket-protocol");
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
    // Hono's parser: the first well-formed pair with the exact name wins, DQUOTEs are
    // dropped, pairs without "=" are skipped, and a bad %-escape stays as sent
    // (so the token fails verification instead of turning into another one).
    const token = getCookie(c, sources.cookie);
    if (token) return { token, from: "cookie" };
  }
  if (sources.query) {
    const token = c.req.query(sources.query);
    if (token) return { token, from: "query" };
  }
  return { token: null };
}
