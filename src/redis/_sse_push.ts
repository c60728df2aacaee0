/**
 * Turns one Server-Sent Event of a Redis subscription back into the Redis push it
 * carries. The event arrives already parsed per the SSE spec (by `eventsource-parser`);
 * this file only knows Upstash's data format on top of it:
 *
 * - a plain event (no `event:` field, or `event: message`): `data: <kind>,<names…>,<last>`,
 *   verbatim, where the names (channel, pattern) hold no comma;
 * - an `escaped` event, which Kiln's gateway sends when a part would break that line:
 *   the last part is a JSON value, and a name that starts with `"` is a JSON string
 *   (its commas written `\u002c`); other names are verbatim.
 *
 * Any other event type is not a Redis push and is ignored.
 *
 * @module
 */
import { RedisError } from "../errors.ts";

/** The SSE event type of a push whose parts were escaped. */
export const ESCAPED_EVENT = "escaped";

/** One Redis push: `message`, `pmessage`, or a (un)subscribe confirmation. */
export interface RedisPush {
  /** `message`, `pmessage`, `subscribe`, `psubscribe`, `unsubscribe` or `punsubscribe`. */
  kind: string;
  /** The channel, or the pattern and then the channel. */
  names: string[];
  /** The message, or the subscription count of a confirmation. */
  last: string | number;
}

/** An event as the SSE parser hands it over. */
export interface SseEvent {
  /** The `event:` field, if the event had one. */
  event?: string | undefined;
  /** The `data:` lines, joined with LF. */
  data: string;
}

/** How many names each push kind carries before its last part. */
const NAME_COUNTS: Readonly<Record<string, number>> = {
  message: 1,
  pmessage: 2,
  subscribe: 1,
  psubscribe: 1,
  unsubscribe: 1,
  punsubscribe: 1,
};

/**
 * @param event one parsed SSE event
 * @returns the push it carries, or `undefined` when it is not a Redis push
 * @throws {RedisError} `REDIS_UNEXPECTED_REPLY` when a push is malformed
 *
 * @example Plain and escaped pushes
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePush } from "./_sse_push.ts";
 *
 * assert.deepEqual(decodePush({ data: "message,news,a, b" }), {
 *   kind: "message",
 *   names: ["news"],
 *   last: "a, b",
 * });
 * assert.deepEqual(decodePush({ event: "escaped", data: 'pmessage,n*,"n\\u002cx","a\\nb"' }), {
 *   kind: "pmessage",
 *   names: ["n*", "n,x"],
 *   last: "a\nb",
 * });
 * ```
 */
export function decodePush(event: SseEvent): RedisPush | undefined {
  const escaped = event.event === ESCAPED_EVENT;
  if (!escaped && event.event !== undefined && event.event !== "message") return undefined;
  const { data } = event;
  const kindEnd = data.indexOf(",");
  const kind = kindEnd < 0 ? data : data.slice(0, kindEnd);
  const nameCount = Object.hasOwn(NAME_COUNTS, kind) ? NAME_COUNTS[kind] : undefined;
  if (nameCount === undefined) return undefined;
  const names: string[] = [];
  let start = kindEnd + 1;
  for (let i = 0; i < nameCount; i++) {
    const end = kindEnd < 0 ? -1 : data.indexOf(",", start);
    if (end < 0) throw unexpected(`A ${kind} push has too few parts`);
    const name = data.slice(start, end);
    names.push(escaped && name.startsWith('"') ? parseString(name, kind) : name);
    start = end + 1;
  }
  const rest = data.slice(start);
  const isMessage = kind === "message" || kind === "pmessage";
  if (isMessage) return { kind, names, last: escaped ? parseString(rest, kind) : rest };
  const count = escaped ? parseJson(rest, kind) : /^\d+$/.test(rest) ? Number(rest) : NaN;
  if (!Number.isSafeInteger(count) || (count as number) < 0) {
    throw unexpected(`A ${kind} push has no valid subscription count`);
  }
  return { kind, names, last: count as number };
}

function parseJson(text: string, kind: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw unexpected(`An escaped ${kind} push holds invalid JSON`, error);
  }
}

function parseString(text: string, kind: string): string {
  const value = parseJson(text, kind);
  if (typeof value !== "string") throw unexpected(`An escaped ${kind} push holds a non-string`);
  return value;
}

function unexpected(message: string, cause?: unknown): RedisError {
  return new RedisError("REDIS_UNEXPECTED_REPLY", message, cause === undefined ? {} : { cause });
}
