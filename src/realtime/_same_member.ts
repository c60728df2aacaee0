/**
 * Telling whether a presence member changed.
 *
 * @module
 */
import type { PresenceMember } from "./protocol.ts";

/**
 * Whether two members look the same on the wire (their JSON): a refresh that
 * changes nothing presence shows announces nothing.
 */
export function sameMember(a: PresenceMember, b: PresenceMember): boolean {
  return a.id === b.id && JSON.stringify(a.info) === JSON.stringify(b.info);
}
