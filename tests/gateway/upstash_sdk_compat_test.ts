/**
 * The official `@upstash/redis` client against Kiln's gateway, method by method: every
 * command method the SDK offers (found by reflection, so a new SDK version's new method
 * fails here until it is classified) is called through the gateway with values of every
 * JSON type, and what it gets back is compared with what a second path, node-redis straight
 * to the same redis-server, says Redis holds.
 *
 * Each case runs three ways: one command per request (`POST /`), auto-pipelined (the
 * SDK's default, which sends every command through `POST /pipeline`, so every pipeline
 * method runs too), and with plain JSON replies instead of base64.
 *
 * Methods Redis 7.0 lacks are listed in `_sdk_compat/not_in_redis_7_0.ts` and must fail
 * with Redis's own error; the ones the gateway refuses by default are listed in
 * `_sdk_compat/refused_by_gateway.ts` and must fail with its 400 and change nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Redis } from "@upstash/redis";
import { startRedisStack } from "../support/redis_stack.ts";
import { CASES } from "./_sdk_compat/cases.ts";
import { connectRaw } from "./_sdk_compat/context.ts";
import { MODES, SINGLE } from "./_sdk_compat/modes.ts";
import { runMode } from "./_sdk_compat/run_mode.ts";
import { NOT_IN_REDIS_7_0 } from "./_sdk_compat/not_in_redis_7_0.ts";
import { REFUSED_BY_GATEWAY } from "./_sdk_compat/refused_by_gateway.ts";
import { commandMethods, sdkSurface } from "./_sdk_compat/surface.ts";

/** Members of a pipeline that are the pipeline's own machinery, not commands. */
const PIPELINE_MACHINERY = new Set(["chain", "length"]);

function offlineClient(): Redis {
  return SINGLE.client("http://127.0.0.1:9", "unused");
}

Deno.test("every command method of @upstash/redis, its pipeline and multi is classified", () => {
  const surface = sdkSurface(offlineClient());
  const classified = new Set([
    ...CASES.map((c) => c.method),
    ...NOT_IN_REDIS_7_0.map((m) => m.method),
    ...REFUSED_BY_GATEWAY.map((r) => r.method),
    ...PIPELINE_MACHINERY,
  ]);
  const all = new Set([...surface.client, ...surface.pipeline, ...surface.multi]);
  const unclassified = [...all].filter((method) => !classified.has(method));
  assert.deepEqual(unclassified, [], "add a case, or a row to one of the expected-failure tables");
  const stale = [...classified].filter((method) => !all.has(method));
  assert.deepEqual(stale, [], "these classified methods no longer exist in the SDK");
  assert.ok(surface.client.length > 150, `reflection found only ${surface.client.length}`);
});

Deno.test("the reflection sees a method added to the client, so a new SDK method is caught", () => {
  const redis = offlineClient();
  Object.assign(redis, { brandnewcommand: () => Promise.resolve(1) });
  assert.ok(commandMethods(redis).includes("brandnewcommand"));
});

Deno.test("@upstash/redis gets back what Redis holds, for every method, through the gateway", async (t) => {
  // The gateway as an operator gets it: no --allow (test stacks allow FLUSHDB by default).
  await using stack = await startRedisStack({ allow: [] });
  await using raw = await connectRaw(stack.redisUrl);
  for (const mode of MODES) {
    await runMode(t, mode, { gatewayUrl: stack.gatewayUrl, token: stack.token, raw: raw.command });
  }
});
