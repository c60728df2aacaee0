/**
 * Connection slots counted in this process's memory.
 *
 * @module
 */
import type { ConnectionSlots } from "./connection_slots.ts";

/** Each user's connection ids on this instance. */
export class MemorySlots implements ConnectionSlots {
  #users = new Map<string, Set<string>>();

  acquire(userId: string, connectionId: string, limit: number): Promise<boolean> {
    // Synchronous up to here, so concurrent upgrades in one process cannot overshoot.
    let held = this.#users.get(userId);
    if (held?.has(connectionId)) return Promise.resolve(true);
    if ((held?.size ?? 0) >= limit) return Promise.resolve(false);
    if (!held) this.#users.set(userId, held = new Set());
    held.add(connectionId);
    return Promise.resolve(true);
  }

  release(userId: string, connectionId: string): Promise<void> {
    const held = this.#users.get(userId);
    held?.delete(connectionId);
    if (held?.size === 0) this.#users.delete(userId);
    return Promise.resolve();
  }
}
