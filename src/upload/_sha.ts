/**
 * Incremental SHA-1 and SHA-256, for verifying `Upload-Checksum` while a PATCH
 * body streams through. Web Crypto only digests a whole buffer, which would
 * mean holding the whole chunk in memory; `@noble/hashes` (audited, pure JS,
 * on every runtime Kiln supports) keeps one 64-byte block of state and copies
 * what it buffers, so the reused read buffers stay free to reuse. Checked
 * against Web Crypto in tests/upload/sha_test.ts.
 */
import { sha1 } from "@noble/hashes/legacy.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** A running digest. */
export interface Hasher {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

/** The algorithms {@linkcode createHasher} supports, as tus names them. */
export const CHECKSUM_ALGORITHMS = ["sha1", "sha256"] as const;

/** Creates a hasher for a tus checksum algorithm name, or `null` when unsupported. */
export function createHasher(algorithm: string): Hasher | null {
  const hash = algorithm === "sha1"
    ? sha1.create()
    : algorithm === "sha256"
    ? sha256.create()
    : null;
  if (hash === null) return null;
  return {
    update: (bytes) => void hash.update(bytes),
    digest: () => hash.digest(),
  };
}
