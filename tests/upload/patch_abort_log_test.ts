/**
 * A client that vanishes mid-body is normal: the server logs one debug line,
 * never an error or warning with a stack trace.
 */
import assert from "node:assert/strict";
import { bytes, patchHeaders } from "./_serve.ts";
import { hostileServer, RawRequest } from "./_hostile.ts";
import { ManualClock } from "../support/manual_clock.ts";

type Level = "error" | "warn" | "log" | "info" | "debug";

/** Records console output while `work` runs, then restores the console. */
async function capture(work: () => Promise<void>): Promise<Record<Level, unknown[][]>> {
  const levels: Level[] = ["error", "warn", "log", "info", "debug"];
  const seen = Object.fromEntries(levels.map((level) => [level, []])) as unknown as Record<
    Level,
    unknown[][]
  >;
  const original = levels.map((level) => console[level]);
  for (const level of levels) console[level] = (...args: unknown[]) => void seen[level].push(args);
  try {
    await work();
  } finally {
    levels.forEach((level, i) => (console[level] = original[i]));
  }
  return seen;
}

Deno.test("a PATCH dropped mid-body logs one debug line and no error or warning", async () => {
  let id = "";
  let offset: number | undefined;
  // Captured until the server has shut down, so whatever the dropped request logs is seen.
  const seen = await capture(async () => {
    await using server = await hostileServer("memory");
    const upload = await server.create({ "Upload-Length": "10000" });
    id = upload.id;
    const request = await RawRequest.open(
      "PATCH",
      upload.location,
      patchHeaders(0, { "Content-Length": "10000" }),
    );
    await request.send(bytes(3000));
    await server.progress.reached(upload.id, 3000);
    const released = server.state.released(upload.id);
    request.drop();
    await released;
    offset = (await server.state.get(upload.id))?.offset;
  });
  assert.deepEqual(seen.error, []);
  assert.deepEqual(seen.warn, []);
  assert.equal(seen.debug.length, 1);
  assert.equal(seen.debug[0].length, 1, "one line, no error object");
  assert.match(String(seen.debug[0][0]), new RegExp(`${id}.*3000`));
  assert.equal(offset, 3000);
});

Deno.test("a PATCH ended by the idle timeout logs one debug line and no error or warning", async () => {
  let id = "";
  const seen = await capture(async () => {
    const clock = new ManualClock();
    await using server = await hostileServer("memory", { clock, bodyIdleTimeout: 1_000 });
    const upload = await server.create({ "Upload-Length": "10000" });
    id = upload.id;
    await using request = await RawRequest.open(
      "PATCH",
      upload.location,
      patchHeaders(0, { "Content-Length": "10000" }),
    );
    await request.send(bytes(3000));
    await server.progress.reached(upload.id, 3000);
    await clock.armed(1_000);
    clock.advance(1_000);
    assert.equal((await request.response()).status, 408);
  });
  assert.deepEqual(seen.error, []);
  assert.deepEqual(seen.warn, []);
  assert.equal(seen.debug.length, 1);
  assert.match(String(seen.debug[0][0]), new RegExp(id));
});
