/**
 * A realtime fixture server on Bun (`Bun.serve` with `hono/bun`), started by
 * `runtime_fixture.ts` from a bundle. Reads its config from `KILN_FIXTURE`
 * and prints `{"port":…}` once it listens.
 *
 * @module
 */
import { upgradeWebSocket, websocket } from "hono/bun";
import { limitBunFrames } from "../../../src/realtime/adapters/frame_limits.ts";
import { fixtureApp, type FixtureConfig, report } from "./fixture_app.ts";

declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: Record<string, unknown>): { port: number };
};

const config: FixtureConfig = JSON.parse(Bun.env.KILN_FIXTURE ?? "{}");
const { app } = fixtureApp(config, () => upgradeWebSocket);
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: app.fetch,
  websocket: config.frameLimit === undefined
    ? websocket
    : limitBunFrames(websocket, config.frameLimit),
});
report({ port: server.port });
