/**
 * The contracts behind `@kiln/core/realtime`, for authors of a fan-out, a
 * presence store, a connection-slot store or a transport of their own. An
 * application never needs this entry point: it creates a `Hub` (in-process by
 * default, or with `RedisFanout`) and mounts `realtime()` from
 * `@kiln/core/realtime`.
 *
 * - {@linkcode Fanout} carries broadcasts between hub instances and owns the
 *   {@linkcode PresenceStore} and, optionally, the {@linkcode ConnectionSlots}
 *   and the {@linkcode ChannelStore} (subscribers counted across instances).
 * - A transport hands `Hub.connect()` a socket in the shape of Hono's
 *   `WSContext` (from `hono/ws`: the one socket shape the core knows), after `Hub.admit()` gave it a
 *   {@linkcode ConnectionSlot}, and drives the {@linkcode TransportConnection}
 *   it gets back.
 * - {@linkcode parseClientMessage} and the subprotocol constants are the wire
 *   protocol's, for a client or a transport of another kind.
 *
 * @example A fan-out that counts what it publishes
 * ```ts
 * import { Hub } from "@kiln/core/realtime";
 * import { type Fanout, type FanoutEnvelope, LocalFanout } from "@kiln/core/realtime/transport";
 * import assert from "node:assert/strict";
 *
 * class CountingFanout implements Fanout {
 *   readonly published: FanoutEnvelope[] = [];
 *   #inner = new LocalFanout();
 *   readonly presence = this.#inner.presence;
 *   start = this.#inner.start.bind(this.#inner);
 *   close = this.#inner.close.bind(this.#inner);
 *   publish(envelope: FanoutEnvelope): Promise<void> {
 *     this.published.push(envelope);
 *     return Promise.resolve();
 *   }
 * }
 *
 * const fanout = new CountingFanout();
 * const hub = new Hub({ fanout });
 * await hub.broadcast("news", "headline", { title: "Hello" });
 * assert.equal(fanout.published.length, 1);
 * assert.equal(fanout.published[0].channel, "news");
 * await hub.close();
 * ```
 *
 * @module
 */
// Types of `@kiln/core/realtime` the contracts below are written in, repeated here
// so an adapter can import everything it implements from one place.
export type { AuthSession, RealtimeUser, WebSocketAuth } from "./auth.ts";
export type {
  Authorize,
  AuthorizeResult,
  ClientEventFilter,
  Connection,
  ConnectionPolicy,
  ConnectOptions,
  TransportConnection,
  Wire,
  WireConnection,
} from "./connection.ts";
export type { ConnectionSlot, ConnectionSlots } from "./connection_slots.ts";
export {
  type ChannelChange,
  type ChannelStore,
  type Fanout,
  type FanoutEnvelope,
  type FanoutHandlers,
  LocalFanout,
  type PresenceJoin,
  type PresenceStore,
} from "./fanout.ts";
export {
  BEARER_PREFIX,
  type ChannelInfo,
  type ChannelKind,
  type ClientMessage,
  ClientMessageSchema,
  parseClientMessage,
  type ParseResult,
  type PresenceMember,
  PROTOCOL,
  type RealtimeWireErrorCode,
  type ServerMessage,
} from "./protocol.ts";
