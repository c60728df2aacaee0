/**
 * The Pusher apps a server answers for, and how they are found.
 *
 * @module
 */
import type { PusherWebhook } from "./webhooks.ts";

/** One Pusher app: the credentials its clients and back end use. */
export interface PusherApp {
  /** The app id, in the HTTP API's paths (`/apps/:id/events`). */
  readonly id: string;
  /** The public key clients connect with (`/app/:key`) and sign with. */
  readonly key: string;
  /** The secret that signs subscriptions, sign-ins and HTTP API requests. Never sent to clients. */
  readonly secret: string;
  /**
   * Whether clients may send `client-` events on private and presence channels.
   * @default true
   */
  readonly clientEvents?: boolean;
  /**
   * Whether subscribers are told how many subscribers their channel has
   * (`pusher_internal:subscription_count`, pusher-js's `pusher:subscription_count`
   * event), as Pusher's dashboard setting "Subscription counting" does. Counted
   * per instance behind a `RedisFanout`.
   * @default false
   */
  readonly subscriptionCount?: boolean;
  /** Where this app's webhooks go (needs `webhooks.queue` in `pusher()`'s options). @default none */
  readonly webhooks?: readonly PusherWebhook[];
}

/**
 * Looks an app up by its id (HTTP API) or its key (WebSocket), answering
 * `null` for an unknown one.
 */
export type PusherAppLookup = (
  by: { id: string } | { key: string },
) => PusherApp | null | Promise<PusherApp | null>;

/** Turns the `apps` option into a lookup, checking a list once. */
export function appLookup(apps: readonly PusherApp[] | PusherAppLookup): PusherAppLookup {
  if (typeof apps === "function") return apps;
  if (!Array.isArray(apps) || apps.length === 0) {
    throw new TypeError("pusher needs apps: a list of { id, key, secret } or a lookup function");
  }
  const byId = new Map<string, PusherApp>();
  const byKey = new Map<string, PusherApp>();
  for (const app of apps) {
    for (const field of ["id", "key", "secret"] as const) {
      if (typeof app?.[field] !== "string" || app[field].length === 0) {
        throw new TypeError(`Every Pusher app needs a non-empty ${field}`);
      }
    }
    if (byId.has(app.id) || byKey.has(app.key)) {
      throw new TypeError(`Two Pusher apps share the id ${app.id} or the key ${app.key}`);
    }
    byId.set(app.id, app);
    byKey.set(app.key, app);
  }
  return (by) => ("id" in by ? byId.get(by.id) : byKey.get(by.key)) ?? null;
}
