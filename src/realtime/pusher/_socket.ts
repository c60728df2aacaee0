/**
 * One Pusher WebSocket: the app found by its key, the upgrade, and the
 * connection handed to the hub with a {@linkcode PusherWire}.
 *
 * @module
 */
import type { Context } from "hono";
import type { UpgradeWebSocket, WSContext, WSEvents } from "hono/ws";
import type { Clock } from "../../clock.ts";
import type { ConnectionPolicy, TransportConnection } from "../connection.ts";
import type { Hub } from "../hub.ts";
import { scheduleAt } from "../_timer.ts";
import { dropOnProtocolError } from "../adapters/node.ts";
import { answerClose, upgradeOnWorkers } from "../adapters/workers.ts";
import type { PusherApp } from "./app.ts";
import { PusherCloseCode } from "./close_codes.ts";
import { frame, pusherError } from "./_encode.ts";
import { type ClientEventReport, PusherWire } from "./_wire.ts";
import type { SubscriptionCounts } from "./_subscription_counts.ts";

/** What every socket of one `pusher()` shares. */
export interface SocketSettings {
  readonly hub: Hub;
  // deno-lint-ignore no-explicit-any
  readonly upgradeWebSocket: UpgradeWebSocket<any, any, any>;
  readonly clock: Clock;
  /** Milliseconds of silence before the server pings. */
  readonly activityTimeout: number;
  /** The policy of one app's connections. */
  policyFor(app: PusherApp): ConnectionPolicy;
  /** Told of client events, for webhooks; absent without webhooks. */
  readonly onClientEvent?: (event: ClientEventReport) => void;
  /** Sends `pusher_internal:subscription_count` to apps with `subscriptionCount: true`. */
  readonly counts: SubscriptionCounts;
}

/** Pusher's socket ids: two random integers, as the server SDKs check them (`/^\d+\.\d+$/`). */
export function newSocketId(): string {
  const [a, b] = crypto.getRandomValues(new Uint32Array(2));
  return `${a}.${b}`;
}

/**
 * Upgrades `GET /app/:key`. An unknown key or protocol version is refused
 * after the upgrade, with the close code pusher-js acts on (an HTTP refusal
 * would only make it retry).
 */
export async function pusherSocket(
  c: Context,
  app: PusherApp | null,
  settings: SocketSettings,
): Promise<Response | void> {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return;
  const events = app === null
    ? refuse(PusherCloseCode.UnknownApp, "Unknown app key")
    : c.req.query("protocol") !== "7"
    ? refuse(PusherCloseCode.UnsupportedProtocol, "Only protocol 7 is supported")
    : accept(app, settings);
  // The server speaks first, and Workers' Hono helper never reports the open.
  return upgradeOnWorkers(events) ??
    await settings.upgradeWebSocket(() => events)(c, async () => {});
}

function refuse(code: number, message: string): WSEvents {
  let done = false;
  const end = (ws: WSContext) => {
    if (done) return;
    done = true;
    ws.send(pusherError(code, message));
    ws.close(code, message);
  };
  return {
    onOpen: (_event, ws) => end(ws),
    onMessage: (_event, ws) => end(ws),
    onClose: (event, ws) => answerClose(ws, event.code),
  };
}

function accept(app: PusherApp, settings: SocketSettings): WSEvents {
  const id = newSocketId();
  const wire = new PusherWire(
    app,
    Math.ceil(settings.activityTimeout / 1_000),
    settings.onClientEvent,
    settings.counts,
  );
  let connection: TransportConnection | null = null;
  let lastSeen = settings.clock.now();
  let stopPinging = () => {};
  const ping = (ws: WSContext) => {
    // Re-armed lazily from the last frame, so a busy connection costs no timer churn.
    stopPinging = scheduleAt(settings.clock, lastSeen + settings.activityTimeout, () => {
      if (ws.readyState !== 1) return;
      // Silent for a whole activity timeout: ask; the hub's idle timeout closes it if no answer comes.
      if (settings.clock.now() - lastSeen >= settings.activityTimeout) {
        try {
          ws.send(frame("pusher:ping", {}));
        } catch {
          return; // closing; its close event ends the connection
        }
        lastSeen = settings.clock.now();
      }
      ping(ws);
    });
  };
  const attach = (ws: WSContext): TransportConnection | null => {
    if (connection) return connection;
    dropOnProtocolError(ws);
    try {
      connection = settings.hub.connect(
        ws,
        { user: { id, claims: {} }, expiresAt: null },
        settings.policyFor(app),
        undefined,
        { id, wire },
      );
    } catch {
      ws.close(PusherCloseCode.Reconnect, "server shutting down");
      return null;
    }
    ping(ws);
    return connection;
  };
  return {
    onOpen: (_event, ws) => void attach(ws),
    onMessage: (event, ws) => {
      lastSeen = settings.clock.now();
      attach(ws)?.receive(event.data);
    },
    onClose: (event, ws) => {
      stopPinging();
      wire.closed();
      connection?.closedByPeer(event.code, event.reason);
      answerClose(ws, event.code);
    },
  };
}
