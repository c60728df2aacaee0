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
 * Test files run in parallel (`--parallel`: one per core, or `DENO_JOBS`):
 * most of a file's time is spent starting its redis-server and gateway and
 * waiting on them, so one file at a time left a core idle, and the suite took
 * 6 to 7 minutes on a 2-core machine. Every file starts its own stacks on free
 * ports, so files share no state; but each runs on a loaded machine, so a test
 * must wait for the state it needs, never count on how long something takes.
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
    args: ["test", "-A", "--doc", "--parallel", ...args],
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
