/**
 * A realtime fixture server on Node (`@hono/node-server` with `@hono/node-ws`),
 * started by `runtime_fixture.ts` from a bundle, under Node itself rather than
 * Deno's Node compatibility. Reads its config from `KILN_FIXTURE` and prints
 * `{"port":…}` once it listens.
 *
 * @module
 */
import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import process from "node:process";
import { limitNodeFrames } from "../../../src/realtime/adapters/frame_limits.ts";
import { fixtureApp, type FixtureConfig, report } from "./fixture_app.ts";

const config: FixtureConfig = JSON.parse(process.env.KILN_FIXTURE ?? "{}");
let node: ReturnType<typeof createNodeWebSocket> | undefined;
const { app } = fixtureApp(config, (app) => {
  node = createNodeWebSocket({ app });
  if (config.frameLimit !== undefined) limitNodeFrames(node, config.frameLimit);
  return node.upgradeWebSocket;
});
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
  report({ port: info.port });
});
node!.injectWebSocket(server);
