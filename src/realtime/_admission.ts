/**
 * A connection's slot between the upgrade and the close.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { ConnectionSlot } from "./connection_slots.ts";
import { scheduleAt } from "./_timer.ts";

/**
 * A slot taken before the upgrade. Runtimes may answer the upgrade and never
 * open the socket (Node's `ws` drops a handshake it finds invalid without a
 * word), so a slot no socket claims within `timeoutMs` goes back by itself.
 */
export class Admission implements ConnectionSlot {
  readonly userId: string;
  #giveBack: () => void;
  #cancelTimer: () => void;
  #state: "pending" | "attached" | "released" = "pending";

  constructor(userId: string, giveBack: () => void, clock: Clock, timeoutMs: number) {
    this.userId = userId;
    this.#giveBack = giveBack;
    this.#cancelTimer = scheduleAt(clock, clock.now() + timeoutMs, () => this.release());
  }

  /** Claims the slot for an open socket; `false` when it already went back. */
  attach(): boolean {
    if (this.#state !== "pending") return false;
    this.#state = "attached";
    this.#cancelTimer();
    return true;
  }

  release(): void {
    if (this.#state === "released") return;
    this.#state = "released";
    this.#cancelTimer();
    this.#giveBack();
  }
}
