/**
 * A Deno server speaking both protocols on one hub, for the Pusher tests:
 * `pusher()` at the root, the application's `/broadcasting/auth` and
 * `/broadcasting/user-auth` (the user named by the `x-user` header, as a
 * session cookie would), and Kiln's own `/ws`.
 *
 * @module
 */
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import { Hub, type HubOptions } from "../../../src/realtime/hub.ts";
import { jwtAuth } from "../../../src/realtime/jwt_auth.ts";
import { realtime } from "../../../src/realtime/realtime.ts";
import type { ChannelInfo } from "../../../src/realtime/protocol.ts";
import type { RealtimeUser } from "../../../src/realtime/auth.ts";
import { pusher, type PusherOptions } from "../../../src/realtime/pusher/pusher.ts";
import { pusherAuth, pusherUserAuth } from "../../../src/realtime/pusher/auth_endpoints.ts";
import { AUDIENCE, ISSUER, SECRET } from "../_support/secrets.ts";

/** The test app's credentials. */
export const APP = { id: "4242", key: "kiln-key", secret: "kiln-secret" } as const;
/** The master key of encrypted channels (32 bytes, base64). */
export const MASTER_KEY = btoa("0123456789abcdef0123456789abcdef");

/** The channel authorizer both protocols share. */
export function authorize(user: RealtimeUser, channel: ChannelInfo) {
  if (channel.name.startsWith("presence-")) return { name: `User ${user.id}` };
  if (channel.name.startsWith("private-encrypted-")) return true;
  return channel.name === `private-user.${user.id}` || channel.name === "private-chat";
}

export interface PusherTestServer extends AsyncDisposable {
  /** `127.0.0.1`. */
  host: string;
  port: number;
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  hub: Hub;
  close(): Promise<void>;
}

/** Starts the server on a free port. */
export function startPusherServer(
  options: {
    hub?: HubOptions;
    pusher?: Partial<PusherOptions>;
    hubInstance?: Hub;
    /** A port to listen on (to restart a server in place). @default a free one */
    port?: number;
  } = {},
): PusherTestServer {
  const hub = options.hubInstance ?? new Hub({ onError: () => {}, ...options.hub });
  const app = new Hono();
  const authenticate = (c: { req: { header(name: string): string | undefined } }) => {
    const id = c.req.header("x-user");
    return id ? { id, claims: { name: `User ${id}` } } : null;
  };
  app.post(
    "/broadcasting/auth",
    pusherAuth({ app: APP, authenticate, authorize, encryptionMasterKey: MASTER_KEY }),
  );
  app.post("/broadcasting/user-auth", pusherUserAuth({ app: APP, authenticate }));
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket,
      auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE }),
      authorize,
      origins: "*",
      clientEvents: true,
    }),
  );
  app.route(
    "/",
    pusher(hub, { apps: [APP], upgradeWebSocket, onError: () => {}, ...options.pusher }),
  );
  const server = Deno.serve(
    { port: options.port ?? 0, hostname: "127.0.0.1", onListen() {} },
    app.fetch,
  );
  const port = server.addr.port;
  let closing: Promise<void> | null = null;
  const close = () =>
    closing ??= (async () => {
      await hub.close();
      await server.shutdown();
    })();
  return {
    host: "127.0.0.1",
    port,
    origin: `http://127.0.0.1:${port}`,
    hub,
    close,
    [Symbol.asyncDispose]: close,
  };
}
