import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import { SignJWT } from "jose";
import { Hub, type HubOptions } from "../../../src/realtime/hub.ts";
import { jwtAuth } from "../../../src/realtime/jwt_auth.ts";
import { realtime, type RealtimeOptions } from "../../../src/realtime/realtime.ts";
import type { ManualClock } from "../../support/manual_clock.ts";

import { AUDIENCE, ISSUER, SECRET } from "./secrets.ts";

export { AUDIENCE, ISSUER, SECRET };

/** Signs an HS256 token with the test secret; `exp` defaults to one hour after `now`. */
export async function sign(
  sub: string,
  options: { now?: number; expiresIn?: number; claims?: Record<string, unknown> } = {},
): Promise<string> {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  return await new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 3600))
    .sign(new TextEncoder().encode(SECRET));
}

export interface TestServer extends AsyncDisposable {
  url: string;
  hub: Hub;
  close(): Promise<void>;
}

/** Starts Deno.serve with a Hono app serving `/ws`, on a free port. */
export function startServer(
  options: {
    hub?: HubOptions;
    clock?: ManualClock;
    realtime?: Partial<RealtimeOptions>;
    setup?: (hub: Hub) => void;
  } = {},
): TestServer {
  const clock = options.clock;
  const hub = new Hub({ clock, onError: () => {}, ...options.hub });
  options.setup?.(hub);
  const app = new Hono();
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket,
      auth: jwtAuth({
        secret: SECRET,
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: AUDIENCE,
        expose: ["name"],
        ...(clock ? { clock } : {}),
      }),
      authorize: (user, channel) => {
        if (channel.kind === "private") return channel.name === `private-user.${user.id}`;
        if (channel.name.startsWith("presence-room")) return { name: user.claims.name ?? null };
        return false;
      },
      origins: ["https://app.test"],
      ...options.realtime,
    }),
  );
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  let closing: Promise<void> | null = null;
  const close = () =>
    closing ??= (async () => {
      await hub.close();
      await server.shutdown();
    })();
  return { url, hub, close, [Symbol.asyncDispose]: close };
}
