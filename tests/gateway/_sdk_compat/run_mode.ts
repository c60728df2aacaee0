/**
 * Runs the whole suite in one mode as test steps: every case, every method Redis 7.0
 * lacks, every method the gateway refuses.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CASES, serverError } from "./cases.ts";
import { keysFor, type RawCommand } from "./context.ts";
import type { Mode } from "./modes.ts";
import { NOT_IN_REDIS_7_0 } from "./not_in_redis_7_0.ts";
import { REFUSED_BY_GATEWAY } from "./refused_by_gateway.ts";

/** Where the mode runs. */
export interface Target {
  readonly gatewayUrl: string;
  readonly token: string;
  /** The second path to what Redis holds. */
  readonly raw: RawCommand;
  /**
   * Methods whose case cannot hold against this deployment, with the reason (shown as
   * ignored), e.g. whole-database reads on a cluster.
   */
  readonly limits?: Readonly<Record<string, string>>;
}

/** Runs one step, or shows it as ignored with the reason it cannot run here. */
function step(
  t: Deno.TestContext,
  limit: string | undefined,
  name: string,
  fn: () => Promise<void>,
): Promise<boolean> {
  return t.step({
    name: limit ? `${name} (not run: ${limit})` : name,
    ignore: limit !== undefined,
    fn,
  });
}

/** Runs every case, missing command and refusal in `mode` against `target`. */
export function runMode(t: Deno.TestContext, mode: Mode, target: Target): Promise<boolean> {
  const redis = mode.client(target.gatewayUrl, target.token);
  const raw = target.raw;
  const limitOf = (method: string) => mode.sdkLimits?.[method] ?? target.limits?.[method];
  return t.step(mode.name, async (t) => {
    for (const [i, { method, run }] of CASES.entries()) {
      const key = keysFor(`${mode.id}.${i}.${method}`);
      await step(t, limitOf(method), method, () => run({ redis, raw, key }));
    }
    for (const missing of NOT_IN_REDIS_7_0) {
      const name = `${missing.method} fails with Redis 7.0's own error`;
      await step(t, limitOf(missing.method), name, async () => {
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
      await step(t, limitOf(refused.method), name, async () => {
        const key = keysFor(`${mode.id}.${refused.method}`)();
        const intact = await refused.arrange(raw, key);
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
