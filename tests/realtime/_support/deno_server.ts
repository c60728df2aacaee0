/**
 * The realtime fixture server on Deno (`Deno.serve` with `hono/deno`), as a
 * process of its own, for measuring the server alone (`frame_memory.ts`).
 * Reads its config from `KILN_FIXTURE` and prints `{"port":…}` once it listens.
 *
 * @module
 */
import { upgradeWebSocket } from "hono/deno";
import { fixtureApp, type FixtureConfig, report } from "./fixture_app.ts";

const config: FixtureConfig = JSON.parse(Deno.env.get("KILN_FIXTURE") ?? "{}");
const { app } = fixtureApp(config, () => upgradeWebSocket);
Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: ({ port }) => report({ port }),
}, app.fetch);
