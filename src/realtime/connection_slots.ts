/**
 * The per-user connection cap: where a hub counts each user's connections,
 * and the slot one connection holds.
 *
 * @module
 */

/**
 * Where a hub counts each user's open connections. `RedisFanout` counts across
 * every instance of the hub; without one (the in-process `LocalFanout`, or a
 * fan-out that has no `connections`) each instance counts its own.
 */
export interface ConnectionSlots {
  /**
   * Takes a slot for connection `connectionId` of `userId`, unless the user
   * already holds `limit`; resolves whether it did. Must be atomic: upgrades
   * racing each other never take more than `limit` slots between them.
   * Taking a slot twice for the same connection id takes it once.
   */
  acquire(userId: string, connectionId: string, limit: number): Promise<boolean>;
  /** Gives a connection's slot back; giving it back twice does nothing. */
  release(userId: string, connectionId: string): Promise<void>;
  /** Stops any timers (heartbeats); the hub calls it once, when it closes. */
  close?(): Promise<void>;
}

/**
 * One admitted connection's slot, from {@linkcode import("./hub.ts").Hub.admit}.
 * It goes back when the connection closes, or, if no socket ever opens for
 * it, after the hub's admission timeout.
 */
export interface ConnectionSlot {
  /** Whose slot it is. */
  readonly userId: string;
  /** Gives the slot back now (idempotent); the hub does this when the connection closes. */
  release(): void;
}
