/**
 * Checks `Authorization: Bearer <token>` in constant time, so response timing does not
 * reveal how much of a guessed token was right.
 *
 * @module
 */

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
