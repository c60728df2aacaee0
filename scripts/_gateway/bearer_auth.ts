/**
 * Checks `Authorization: Bearer <token>` in constant time, so response timing does not
 * reveal how much of a guessed token was right. Like Upstash, a request without the
 * header may carry the token as the `_token` query parameter (for `curl` and links;
 * it ends up in access logs, so prefer the header).
 *
 * @module
 */

import { TOKEN_PARAMETER } from "./path_command.ts";

/**
 * @param request the incoming request
 * @param expected the full expected header value, `Bearer <token>`
 * @returns whether its Authorization header, or without one its `_token`, matches
 */
export function requestIsAuthorized(request: Request, expected: string): boolean {
  const header = request.headers.get("authorization");
  if (header !== null) return isAuthorized(header, expected);
  const query = request.url.indexOf("?");
  if (query < 0) return false;
  const token = new URLSearchParams(request.url.slice(query + 1)).get(TOKEN_PARAMETER);
  return token !== null && isAuthorized(`Bearer ${token}`, expected);
}

/**
 * @param header the request's Authorization header, or `null`
 * @param expected the full expected header value, `Bearer <token>`
 * @returns whether the header matches
 */
export function isAuthorized(header: string | null, expected: string): boolean {
  if (header === null) return false;
  const length = expected.length;
  let diff = header.length ^ length;
  for (let i = 0; i < length; i++) {
    diff |= (i < header.length ? header.charCodeAt(i) : 0) ^ expected.charCodeAt(i);
  }
  return diff === 0;
}
