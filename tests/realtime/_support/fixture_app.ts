/**
 * The realtime app that the Bun and Node fixture servers run (bundled by
 * `runtime_fixture.ts`): the same routes and test keys as `server.ts`, with
 * the options passed in as JSON. It reports each closed connection on stdout
 * as a JSON line, so the Deno test driving it can assert on the server's side.
 *
 * @module
 */
import { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import type { Clock } from "../../../src/clock.ts";
import { Hub } from "../../../src/realtime/hub.ts";
import { jwtAuth } from "../../../src/realtime/jwt_auth.ts";
import { realtime, type RealtimeOptions } from "../../../src/realtime/realtime.ts";
import { AUDIENCE, ISSUER, SECRET } from "./secrets.ts";

/** What a fixture server is started with. */
export interface FixtureConfig {
  /** Options for realtime() that survive JSON. */
  realtime?: Pick<RealtimeOptions, "maxMessageBytes" | "rateLimit">;
  /** Pass this frame limit down to the runtime (limitNodeFrames / limitBunFrames). */
  frameLimit?: number;
  /** Stop the hub's clock: time never passes for the rate limit, timers never fire. */
  frozenClock?: boolean;
}

/** A clock stopped at start-up, for floods "in one instant" (tokens signed now stay valid). */
const started = Date.now();
const frozen: Clock = {
  now: () => started,
  setTimeout: () => 0,
  clearTimeout: () => {},
};

/** Builds the app, asking the runtime's adapter for its upgrade helper. */
export function fixtureApp(
  config: FixtureConfig,
  // deno-lint-ignore no-explicit-any
  upgradeFor: (app: Hono) => UpgradeWebSocket<any, any, any>,
): { app: Hono; hub: Hub } {
  const hub = new Hub({
    clock: config.frozenClock ? frozen : undefined,
    onError: () => {},
  }).use({
    onClose: (_connection, { code }) => report({ closed: code }),
  });
  const app = new Hono();
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket: upgradeFor(app),
      auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE }),
      origins: ["https://app.test"],
      ...config.realtime,
    }),
  );
  return { app, hub };
}

/** Writes one JSON line to stdout. */
export function report(event: Record<string, unknown>): void {
  console.log(JSON.stringify(event));
}
