/**
 * `deno task test`: runs the suite and the documentation examples with a real
 * Redis behind Kiln's gateway, started here and stopped afterwards.
 *
 * The examples in JSDoc and in the guides are what users copy first, so the
 * ones that talk to Redis run too: they read `UPSTASH_REDIS_REST_URL` and
 * `UPSTASH_REDIS_REST_TOKEN` (`Redis.fromEnv()`), which this script points at
 * a private `redis-server` and gateway (never a Redis you run). Tests start
 * their own stacks as before.
 *
 * Usage: `deno task test [deno test arguments]`; with none, everything runs.
 *
 * @module
 */
import { startRedisStack } from "../tests/support/redis_stack.ts";

const DEFAULT_TARGETS = ["tests/", "mod.ts", "src/"];

const stack = await startRedisStack();
let code: number;
try {
  const args = Deno.args.length > 0 ? Deno.args : DEFAULT_TARGETS;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--doc", ...args],
    env: {
      UPSTASH_REDIS_REST_URL: stack.gatewayUrl,
      UPSTASH_REDIS_REST_TOKEN: stack.token,
    },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  code = (await child.status).code;
} finally {
  await stack.close();
}
Deno.exit(code);
