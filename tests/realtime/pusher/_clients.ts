/**
 * The real clients, unmodified from npm, pointed at a test server: pusher-js,
 * Laravel Echo (pusher-js as its connector) and the `pusher` server SDK.
 *
 * @module
 */
import PusherJsModule from "pusher-js";
import PusherServerModule from "pusher";
import { within } from "../_support/ws_client.ts";
import { APP, MASTER_KEY, type PusherTestServer } from "./_server.ts";

// Deno types these CommonJS packages as their module object; at run time the class is the default.
type PusherJsClass = typeof import("pusher-js").default;
/** pusher-js's `Pusher` class. */
export const PusherJs: PusherJsClass =
  (PusherJsModule as unknown as { default?: PusherJsClass }).default ??
    (PusherJsModule as unknown as PusherJsClass);
/** One pusher-js client. */
export type PusherJsClient = InstanceType<PusherJsClass>;
type PusherServerClass = typeof import("pusher");
const PusherServer: PusherServerClass =
  (PusherServerModule as unknown as { default?: PusherServerClass }).default ??
    (PusherServerModule as unknown as PusherServerClass);

/** pusher-js options that reach the test server over plain `ws`, as a user `user` (if any). */
export function clientOptions(server: PusherTestServer, user?: string) {
  const headers: Record<string, string> = user ? { "x-user": user } : {};
  return {
    cluster: "",
    wsHost: server.host,
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ["ws" as const],
    channelAuthorization: {
      endpoint: `${server.origin}/broadcasting/auth`,
      transport: "ajax" as const,
      headers,
    },
    userAuthentication: {
      endpoint: `${server.origin}/broadcasting/user-auth`,
      transport: "ajax" as const,
      headers,
    },
  };
}

/** A pusher-js client, connected. */
export async function connectPusherJs(
  server: PusherTestServer,
  user?: string,
  key: string = APP.key,
): Promise<PusherJsClient> {
  const client = new PusherJs(key, clientOptions(server, user));
  await new Promise<void>((resolve, reject) => {
    client.connection.bind("connected", () => resolve());
    client.connection.bind("failed", () => reject(new Error("pusher-js failed to connect")));
  });
  return client;
}

/**
 * Signs a pusher-js client in and waits until it has nothing more to say:
 * pusher-js subscribes to `#server-to-user-<id>` right after the sign-in, so
 * this waits for that answer too. A test that has the server close the
 * connection next needs the quiet: Deno's server WebSocket (1.45 and later)
 * drops a connection whose `close()` is pending when it reads a frame from
 * the client, and when that read wins the close frame is never written, so
 * pusher-js sees 1006 instead of the code sent.
 */
export async function signIn(client: PusherJsClient): Promise<void> {
  client.signin();
  const user = client.user as unknown as {
    signinDonePromise: Promise<void>;
    serverToUserChannel: {
      subscribed: boolean;
      bind(event: string, callback: (data: unknown) => void): void;
    } | null;
  };
  await user.signinDonePromise;
  const channel = user.serverToUserChannel;
  if (!channel) throw new Error("pusher-js did not sign in");
  if (channel.subscribed) return;
  await next(
    (resolve) => channel.bind("pusher:subscription_succeeded", resolve),
    "#server-to-user",
  );
}

/** Disconnects a pusher-js client and waits until it reports it. */
export async function disconnect(client: PusherJsClient): Promise<void> {
  if (client.connection.state === "disconnected") return;
  const done = new Promise<void>((resolve) => client.connection.bind("disconnected", resolve));
  client.disconnect();
  await within(done, 5_000, "pusher-js to disconnect");
}

/** The `pusher` server SDK, pointed at the test server. */
export function serverSdk(server: PusherTestServer, secret: string = APP.secret) {
  return new PusherServer({
    appId: APP.id,
    key: APP.key,
    secret,
    host: server.host,
    port: String(server.port),
    useTLS: false,
    encryptionMasterKeyBase64: MASTER_KEY,
  });
}

/**
 * The next time `bind` fires, with its argument; fails after 5 s naming
 * `what`, a guard against a hanging test.
 */
export function next<T = unknown>(
  bind: (callback: (value: T) => void) => void,
  what = "a pusher-js event",
): Promise<T> {
  return within(new Promise<T>((resolve) => bind(resolve)), 5_000, what);
}
