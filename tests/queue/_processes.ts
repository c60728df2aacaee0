/**
 * Workers in their own processes, for the crash and multi-process tests: the
 * test's side (spawning one, ending a killed one's leases) and the process's
 * side (running its worker as its mode says).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type Queue,
  type RedisBackend,
  silentLogger,
  Worker,
  type WorkerOptions,
} from "../../src/queue/mod.ts";
import { Keyspace } from "../../src/redis/keys.ts";
import type { RedisStack } from "../support/redis_stack.ts";

/**
 * Starts `script` (a file beside this one) in its own process on `stack`'s gateway:
 * `deno run -A <script> <gatewayUrl> <token> <prefix> <arg>`.
 */
export function spawnWorker(
  script: string,
  stack: RedisStack,
  prefix: string,
  arg: string,
  stdout: "piped" | "null" = "piped",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(script, import.meta.url).pathname,
      stack.gatewayUrl,
      stack.token,
      prefix,
      arg,
    ],
    stdout,
    stderr: "inherit",
  }).spawn();
}

/**
 * Ends the leases still held in queue "default" under `prefix` (a killed process's),
 * as if they had run out: read with their tokens from Redis, so no real time has to
 * pass. Returns the ids of the jobs they held.
 */
export async function endLeases(
  stack: RedisStack,
  backend: RedisBackend,
  prefix: string,
): Promise<string[]> {
  const leases = await stack.redis.hgetall<Record<string, string>>(
    new Keyspace("default", prefix).key("leases"),
  ) ?? {};
  const held = Object.entries(leases).map(([id, token]) => ({ id, token: String(token) }));
  assert.deepEqual(await backend.extend("default", held, 0, 0), [], "every lease ended");
  return held.map(({ id }) => id);
}

/**
 * The process's side: in mode "hang" starts a worker of 3 slots with minute-long
 * leases (the test ends them itself once the process is dead, so a busy machine
 * cannot expire them early) and says "started"; in mode "drain" drains with
 * `concurrency` slots until no job is left ready or delayed, pausing `pause` ms
 * between rounds, and says "drained".
 */
export async function serveAs(
  mode: string,
  queue: Queue,
  jobs: WorkerOptions["jobs"],
  { concurrency, pause = 0 }: { concurrency: number; pause?: number },
): Promise<void> {
  const worker = new Worker(queue, {
    jobs,
    concurrency: mode === "hang" ? 3 : concurrency,
    leaseDuration: 60_000,
    logger: silentLogger,
  });
  if (mode === "hang") {
    await worker.start();
    console.log("started");
    return;
  }
  for (;;) {
    await worker.drain();
    const counts = await queue.counts();
    if (counts.ready + counts.delayed === 0) break;
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }
  console.log("drained");
}
