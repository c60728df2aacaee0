/**
 * Base64 for the upload module: checksum digests, metadata values and the
 * first bytes kept for sniffing. `Uint8Array.fromBase64` is not on every
 * runtime Kiln supports yet (Node 20 lacks it), so this goes through
 * `atob`/`btoa`, which all of them have.
 */

/** Encodes bytes as base64, in slices so no call gets one huge argument list. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let at = 0; at < bytes.byteLength; at += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(binary);
}

/**
 * Decodes base64 (padding optional, as `atob` accepts it).
 *
 * @throws {DOMException} When `text` is not base64.
 */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

/** Encodes a string's UTF-8 bytes as base64, as `Upload-Metadata` values are. */
export function utf8ToBase64(text: string): string {
  return toBase64(new TextEncoder().encode(text));
}
