/**
 * Values of every JSON type `@upstash/redis` sends, with what Redis must hold after the
 * SDK wrote each one. The SDK passes strings, numbers and booleans as JSON scalars and
 * `JSON.stringify`s everything else (objects, arrays, null); on the way back it
 * `JSON.parse`s what it can, so each value must read back equal to itself.
 *
 * @module
 */

/** One value the SDK sends and the bytes Redis must store for it. */
export interface JsonValueCase {
  readonly type: string;
  readonly value: unknown;
  readonly stored: string;
}

/** Every JSON type, plus the awkward spots of each (unicode, line breaks, negatives). */
export const JSON_VALUES: readonly JsonValueCase[] = [
  { type: "string", value: "héllo wörld 🔥", stored: "héllo wörld 🔥" },
  { type: "string with a line break and quotes", value: 'a\n"b"\r\n', stored: 'a\n"b"\r\n' },
  { type: "empty string", value: "", stored: "" },
  { type: "integer", value: 42, stored: "42" },
  { type: "integer past 2^53", value: 2 ** 53 + 2, stored: "9007199254740994" },
  { type: "float in exponent form", value: 1.5e-7, stored: "1.5e-7" },
  { type: "negative float", value: -3.25, stored: "-3.25" },
  { type: "boolean true", value: true, stored: "true" },
  { type: "boolean false", value: false, stored: "false" },
  {
    type: "object",
    value: { id: 7, tags: ["a", "b"], nested: { ok: true, none: null } },
    stored: '{"id":7,"tags":["a","b"],"nested":{"ok":true,"none":null}}',
  },
  {
    type: "array",
    value: [1, "two", false, null, { three: 3 }],
    stored: '[1,"two",false,null,{"three":3}]',
  },
  { type: "null", value: null, stored: "null" },
];
