/** Parsing of tus request headers; each returns a value or an error message for a 400. */
import { CHECKSUM_ALGORITHMS } from "./_sha.ts";
import { fromBase64 } from "./_base64.ts";

const DIGITS = /^\d{1,16}$/;

/** Parses a non-negative integer header such as `Upload-Offset`. */
export function parseInteger(name: string, value: string | null): number | string | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (!DIGITS.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
    return `${name} must be a non-negative integer`;
  }
  return Number(trimmed);
}

/** A parsed `Upload-Checksum` header. */
export interface Checksum {
  algorithm: string;
  expected: Uint8Array;
}

/**
 * Parses `Upload-Checksum: <algorithm> <base64 digest>`, refusing an
 * algorithm the server cannot compute.
 */
export function parseChecksum(value: string | null): Checksum | string | null {
  if (value === null) return null;
  const parts = value.trim().split(" ");
  if (parts.length !== 2 || parts[0] === "") {
    return "Upload-Checksum must be an algorithm and a base64 digest";
  }
  let checksum: Checksum;
  try {
    checksum = {
      algorithm: parts[0],
      expected: fromBase64(parts[1]),
    };
  } catch {
    return "Upload-Checksum digest is not base64";
  }
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(checksum.algorithm)) {
    return `Checksum algorithm ${checksum.algorithm} is not supported`;
  }
  return checksum;
}

/** Compares two digests; timing does not matter here, the client knows both. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}
