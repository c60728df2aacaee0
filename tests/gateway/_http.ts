/**
 * Raw-HTTP helpers for the gateway tests, so they can check the exact wire format that
 * `@upstash/redis` hides (base64, flat arrays, status codes).
 *
 * @module
 */

import type { RedisStack } from "../support/redis_stack.ts";

/** A response's status and parsed JSON body. */
export interface JsonReply {
  status: number;
  body: unknown;
}

/**
 * POSTs `body` to the gateway and returns the status and JSON body.
 *
 * @param stack the running stack
 * @param path e.g. `/`, `/pipeline`
 * @param body a string is sent as is; anything else as JSON
 * @param headers extra headers; `authorization` defaults to the stack's token
 */
export async function post(
  stack: RedisStack,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonReply> {
  const response = await fetch(stack.gatewayUrl + path, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) };
}

/** @returns the base64 of the UTF-8 bytes of `s` */
export function base64Of(s: string): string {
  return new TextEncoder().encode(s).toBase64();
}

/**
 * Fills the list `key` with `v0`…`v<count - 1>` inside Redis (a Lua loop in batches under
 * Lua's stack limit), so tests about reading long replies do not pay for writing them.
 */
export async function fillList(stack: RedisStack, key: string, count: number): Promise<void> {
  const fill = "for i = 0, tonumber(ARGV[1]) - 1, 1000 do local batch = {} " +
    "for j = i, math.min(i + 999, ARGV[1] - 1) do batch[#batch + 1] = 'v' .. j end " +
    "redis.call('RPUSH', KEYS[1], unpack(batch)) end";
  const reply = await post(stack, "/", ["EVAL", fill, 1, key, count]);
  if (reply.status !== 200) throw new Error(`Filling ${key} failed: ${JSON.stringify(reply)}`);
}
