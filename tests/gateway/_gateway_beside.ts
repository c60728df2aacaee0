/**
 * A second gateway in front of a test stack's Redis, in the test's own process. Kept apart
 * from `_http.ts` so the many tests that only speak HTTP do not load the gateway's code.
 *
 * @module
 */

import { type Gateway, type GatewayOptions, startGateway } from "../../scripts/redis_http.ts";
import type { RedisStack } from "../support/redis_stack.ts";

/**
 * Starts a second, in-process gateway in front of `stack`'s Redis with the same token,
 * for tests that need options the stack's own gateway does not take, or its log.
 *
 * @param stack the running stack
 * @param options gateway options beyond port, Redis URL and token
 */
export function gatewayBeside(
  stack: RedisStack,
  options: Partial<GatewayOptions> = {},
): Promise<Gateway> {
  return startGateway({ port: 0, redisUrl: stack.redisUrl, token: stack.token, ...options });
}
