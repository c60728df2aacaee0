/**
 * The replay tests' set-up: a Redis backend whose every HTTP request is
 * delivered twice, as when a client retries a call whose first answer was lost.
 *
 * @module
 */
import { UpstashRedis } from "../../src/redis/mod.ts";
import { RedisBackend } from "../../src/queue/mod.ts";
import type { RedisStack } from "../support/redis_stack.ts";

/** Sends each request, then sends it again and answers with the replay's response. */
export const deliveredTwice: typeof fetch = async (input, init) => {
  const first = await fetch(input, init);
  await first.body?.cancel();
  return await fetch(input, init);
};

/** A backend on `stack`'s gateway, under `prefix`, whose every request is delivered twice. */
export function replayedBackend(stack: RedisStack, prefix: string): RedisBackend {
  const redis = new UpstashRedis({
    url: stack.gatewayUrl,
    token: stack.token,
    fetch: deliveredTwice,
  });
  return new RedisBackend({ redis, prefix });
}
