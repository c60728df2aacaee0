/**
 * Builds every Redis key Kiln uses, in one place.
 *
 * All keys of one namespace (a queue, a scheduler, an upload server) share a
 * hash tag, `kiln:{<namespace>}:…`, so a Lua script may touch several of them
 * on Redis Cluster and Upstash can lock exactly those keys.
 *
 * @module
 */

/**
 * The keys of one namespace.
 *
 * @example Keys of the "mail" queue
 * ```ts
 * import { Keyspace } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * const keys = new Keyspace("mail");
 * assert.equal(keys.key("ready"), "kiln:{mail}:ready");
 * assert.equal(keys.key("unique", "order-7"), "kiln:{mail}:unique:order-7");
 * ```
 */
export class Keyspace {
  /** The namespace every key shares, inside the hash tag. */
  readonly namespace: string;
  /** The common beginning of every key, hash tag included: `kiln:{<namespace>}`. */
  readonly base: string;

  /**
   * Creates the keyspace of one namespace.
   *
   * @param namespace The queue, scheduler or server name. No braces, no empty string.
   * @param prefix The application prefix, for sharing one Redis between apps.
   * @default prefix "kiln"
   * @throws {TypeError} When the namespace or prefix is empty or contains `{`, `}` or whitespace.
   */
  constructor(namespace: string, prefix = "kiln") {
    assertKeyPart("namespace", namespace);
    assertKeyPart("prefix", prefix);
    this.namespace = namespace;
    this.base = `${prefix}:{${namespace}}`;
  }

  /**
   * Returns the key made of the given parts, joined by `:` after the base.
   *
   * @param parts The parts after the hash tag, such as `"jobs"` or `"unique", key`.
   * @returns The full key.
   */
  key(...parts: string[]): string {
    return parts.length === 0 ? this.base : `${this.base}:${parts.join(":")}`;
  }
}

function assertKeyPart(what: string, value: string): void {
  if (typeof value !== "string" || value.length === 0 || /[{}\s]/.test(value)) {
    // Braces would move the hash tag and split a namespace across cluster slots.
    throw new TypeError(
      `Redis ${what} must be a non-empty string without braces or whitespace, got ${
        JSON.stringify(value)
      }`,
    );
  }
}
