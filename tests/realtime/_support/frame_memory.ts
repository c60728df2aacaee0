/**
 * Measures how much a realtime server's memory grows when one authenticated
 * connection sends a 60 MiB text frame, on Deno, Node and Bun, with and
 * without the runtime frame cap. A measurement, not a test: it prints JSON.
 *
 * For each case the server runs in a process of its own; the script resets the
 * process's peak RSS (`/proc/<pid>/clear_refs`), sends the frame, waits for the
 * close, and reports the new peak minus the RSS before (Linux only).
 *
 * Usage: deno run -A tests/realtime/_support/frame_memory.ts [--mib=60]
 *
 * @module
 */
import type { FixtureConfig } from "./fixture_app.ts";
import { type FixtureRuntime, startFixture } from "./runtime_fixture.ts";
import { sign } from "./server.ts";
import { openRaw, readUntilClosed, writeAll } from "./ws_client.ts";

const MiB = 1024 * 1024;
const mib = Number(Deno.args.find((arg) => arg.startsWith("--mib="))?.slice(6) ?? 60);

const cases: Array<{ name: string; runtime: FixtureRuntime; config: FixtureConfig }> = [
  { name: "deno (no cap offered)", runtime: "deno", config: {} },
  { name: "node without limitNodeFrames", runtime: "node", config: {} },
  { name: "node with limitNodeFrames(16 KiB)", runtime: "node", config: { frameLimit: 16_384 } },
  { name: "bun without limitBunFrames", runtime: "bun", config: {} },
  { name: "bun with limitBunFrames(16 KiB)", runtime: "bun", config: { frameLimit: 16_384 } },
];

function kib(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))![1]);
}

/** A masked text frame header with a zero mask, so the payload goes as is. */
function header(length: number): Uint8Array {
  const bytes = new Uint8Array(14);
  bytes[0] = 0x81;
  bytes[1] = 0x80 | 127;
  new DataView(bytes.buffer).setBigUint64(2, BigInt(length));
  return bytes; // mask key 0,0,0,0
}

const only = Deno.args.find((arg) => arg.startsWith("--only="))?.slice(7);
const results = [];
for (const { name, runtime, config } of cases) {
  if (only && !name.startsWith(only)) continue;
  const started = Date.now();
  await using server = await startFixture(runtime, config);
  const conn = await openRaw(server.url, await sign("alice"));
  // Let the server settle after the upgrade, then start the peak from here.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = kib(server.pid, "VmRSS");
  Deno.writeTextFileSync(`/proc/${server.pid}/clear_refs`, "5");
  const closing = readUntilClosed(conn, 60_000).catch(() => null);
  const chunk = new Uint8Array(MiB).fill(0x61); // "a"
  let sent = 0;
  try {
    await writeAll(conn, header(mib * MiB));
    for (; sent < mib; sent++) await writeAll(conn, chunk);
  } catch {
    // The server closed the connection while we were sending.
  }
  const code = await closing;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const peak = kib(server.pid, "VmHWM");
  conn.close();
  results.push({
    case: name,
    frameMiB: mib,
    sentMiB: sent,
    closeCode: code,
    rssBeforeMiB: +(before / 1024).toFixed(1),
    peakGrowthMiB: +((peak - before) / 1024).toFixed(1),
    seconds: (Date.now() - started) / 1000,
  });
}
console.log(JSON.stringify(results, null, 2));
