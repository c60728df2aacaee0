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
import { Redis } from "@upstash/redis";
import { startRedisStack } from "../support/redis_stack.ts";
import { CASES, serverError } from "./_sdk_compat/cases.ts";
import { connectRaw, keysFor } from "./_sdk_compat/context.ts";
import { NOT_IN_REDIS_7_0 } from "./_sdk_compat/not_in_redis_7_0.ts";
import { REFUSED_BY_GATEWAY } from "./_sdk_compat/refused_by_gateway.ts";
import { commandMethods, sdkSurface } from "./_sdk_compat/surface.ts";

/** How a client reaches the gateway; every case runs once per mode. */
interface Mode {
  readonly id: string;
  readonly name: string;
  client(url: string, token: string): Redis;
  /** Methods this mode cannot reach in the SDK itself, each with the reason (shown as ignored). */
  readonly sdkLimits?: Readonly<Record<string, string>>;
}

const AUTO_PIPELINE_HIDES_ERROR = "the SDK's auto-pipeline turns Redis's error into a TypeError";

const MODES: readonly Mode[] = [
  {
    id: "single",
    name: "one command per request, base64 replies",
    client: (url, token) =>
      new Redis({ url, token, enableTelemetry: false, retry: false, enableAutoPipelining: false }),
  },
  {
    id: "auto",
    name: "auto-pipelined (the SDK's default)",
    client: (url, token) => new Redis({ url, token, enableTelemetry: false, retry: false }),
    sdkLimits: {
      // The auto-pipeline proxy wraps bitfield() in a promise, so the builder's
      // set()/get()/incrby() are unreachable and exec() sends an empty pipeline.
      bitfield: "the SDK's auto-pipeline proxy hides bitfield()'s builder",
      // These deserializers run on a failed command's missing result inside an
      // auto-pipeline and throw a TypeError that hides Redis's error (the one-command
      // modes show Redis's error reaches the SDK).
      hgetdel: AUTO_PIPELINE_HIDES_ERROR,
      hgetex: AUTO_PIPELINE_HIDES_ERROR,
      argrep: AUTO_PIPELINE_HIDES_ERROR,
      arinfo: AUTO_PIPELINE_HIDES_ERROR,
      arscan: AUTO_PIPELINE_HIDES_ERROR,
    },
  },
  {
    id: "plain",
    name: "one command per request, plain JSON replies",
    client: (url, token) =>
      new Redis({
        url,
        token,
        enableTelemetry: false,
        retry: false,
        enableAutoPipelining: false,
        responseEncoding: false,
      }),
  },
];

/** Members of a pipeline that are the pipeline's own machinery, not commands. */
const PIPELINE_MACHINERY = new Set(["chain", "length"]);

function offlineClient(): Redis {
  return MODES[0].client("http://127.0.0.1:9", "unused");
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

/** Runs one step, or shows it as ignored with the SDK limitation that stops this mode. */
function step(
  t: Deno.TestContext,
  mode: Mode,
  method: string,
  name: string,
  fn: () => Promise<void>,
): Promise<boolean> {
  const limit = mode.sdkLimits?.[method];
  return t.step({
    name: limit ? `${name} (not run: ${limit})` : name,
    ignore: limit !== undefined,
    fn,
  });
}

Deno.test("@upstash/redis gets back what Redis holds, for every method, through the gateway", async (t) => {
  // The gateway as an operator gets it: no --allow (test stacks allow FLUSHDB by default).
  await using stack = await startRedisStack({ allow: [] });
  await using raw = await connectRaw(stack.redisUrl);
  for (const mode of MODES) {
    const redis = mode.client(stack.gatewayUrl, stack.token);
    await t.step(mode.name, async (t) => {
      for (const [i, { method, run }] of CASES.entries()) {
        const key = keysFor(`${mode.id}.${i}.${method}`);
        await step(t, mode, method, method, () => run({ redis, raw: raw.command, key }));
      }
      for (const missing of NOT_IN_REDIS_7_0) {
        const name = `${missing.method} fails with Redis 7.0's own error`;
        await step(t, mode, missing.method, name, async () => {
          const key = keysFor(`${mode.id}.${missing.method}`)();
          const error = await missing.call(redis, key).then(
            (reply) => assert.fail(`expected an error, got ${JSON.stringify(reply)}`),
            (error: unknown) => serverError(error),
          );
          const command = missing.command.replace(".", "\\.");
          assert.match(error, new RegExp(`^ERR unknown command '${command}'`, "i"));
        });
      }
      for (const refused of REFUSED_BY_GATEWAY) {
        const name = `${refused.method} is refused by the gateway and changes nothing`;
        await step(t, mode, refused.method, name, async () => {
          const key = keysFor(`${mode.id}.${refused.method}`)();
          const intact = await refused.arrange(raw.command, key);
          const error = await refused.call(redis, key).then(
            (reply) => assert.fail(`expected a refusal, got ${JSON.stringify(reply)}`),
            (error: unknown) => serverError(error),
          );
          assert.match(error, new RegExp(refused.command, "i"), "the refusal names the command");
          assert.doesNotMatch(error, /unknown (sub)?command/i, "the gateway, not Redis, refused");
          await intact();
        });
      }
    });
  }
});
