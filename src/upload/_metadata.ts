/** Parsing of the tus `Upload-Metadata` header. */
import { fromBase64 } from "./_base64.ts";

const KEY = /^[\x21-\x2b\x2d-\x7e]+$/; // printable ASCII without space and comma
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses `key base64value` pairs separated by commas into decoded UTF-8
 * values (`null` for a key without a value). Returns an error message
 * instead of throwing, for the server to answer 400 with.
 */
export function parseMetadata(
  header: string,
  maxPairs: number,
): Record<string, string | null> | string {
  const metadata: Record<string, string | null> = Object.create(null);
  const pairs = header.split(",");
  if (pairs.length > maxPairs) return `Upload-Metadata has more than ${maxPairs} pairs`;
  for (const pair of pairs) {
    const parts = pair.trim().split(" ");
    if (parts.length > 2) return "Upload-Metadata pairs are a key and one base64 value";
    const [key, value] = parts;
    if (!KEY.test(key)) return `Upload-Metadata has an invalid key ${JSON.stringify(key)}`;
    if (key in metadata) return `Upload-Metadata repeats the key ${key}`;
    if (value === undefined) {
      metadata[key] = null;
      continue;
    }
    if (!BASE64.test(value)) return `Upload-Metadata value of ${key} is not base64`;
    try {
      metadata[key] = decoder.decode(fromBase64(value));
    } catch {
      return `Upload-Metadata value of ${key} is not UTF-8`;
    }
  }
  return metadata;
}
