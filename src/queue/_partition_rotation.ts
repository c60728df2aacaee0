/**
 * Which partition of a partitioned queue a worker's next take reads.
 *
 * @module
 */

/**
 * How many consecutive full reservations a poller takes from one partition
 * before it moves on even though the partition still has jobs: without it a
 * partition that never empties would starve the others.
 */
const STICK = 4;

/** Which partition a worker's next take reads, per queue and process. */
export class Rotation {
  #count: number;
  #current: number;
  #streak = 0;
  /** The partition last moved away from: not chosen again for being due at once. */
  #left = -1;
  /** Each partition's earliest delayed job or lease deadline as last seen. */
  #due: (number | null)[];
  /** Partitions this process enqueued into since a take last read them. */
  #hinted = new Set<number>();
  /**
   * Whether the last reservation found jobs (or none was made yet): a short
   * answer then reads on through the other partitions, so the end of a burst
   * is not left waiting for polls. Once a whole round finds nothing, polls
   * read one partition each, so an idle worker's poll stays one request.
   */
  warm = true;

  constructor(count: number) {
    this.#count = count;
    this.#current = Math.floor(Math.random() * count);
    this.#due = new Array(count).fill(null);
  }

  /** A partition this process just enqueued into, read first by the next take. */
  hint(index: number): void {
    this.#hinted.add(index);
  }

  /**
   * The partition to reserve from at `now`: a hinted one; else, between two
   * partitions (not in the middle of a run on one), the one whose delayed
   * job or lease came due first, other than the one just left (a partition
   * with more due work than one take promotes would otherwise keep the
   * worker); else the current one.
   */
  pick(now: number): number {
    for (const index of this.#hinted) return this.#switch(index);
    if (this.#streak > 0) return this.#current;
    let earliest = -1;
    for (let i = 0; i < this.#count; i++) {
      const due = this.#due[i];
      if (i === this.#left || due === null || due > now) continue;
      if (earliest < 0 || due < this.#due[earliest]!) earliest = i;
    }
    return earliest >= 0 ? this.#switch(earliest) : this.#current;
  }

  #switch(index: number): number {
    if (index !== this.#current) this.#streak = 0;
    this.#current = index;
    return index;
  }

  /** The current partition, without choosing (for a call that reserves nothing). */
  get current(): number {
    return this.#current;
  }

  /** Records what a take of partition `index` saw. */
  saw(index: number, nextDueAt: number | null): void {
    this.#due[index] = nextDueAt;
  }

  /** After a reservation from `index`: moves on when it came back short, or after STICK full ones. */
  reserved(index: number, got: number, asked: number): void {
    this.#hinted.delete(index);
    if (index !== this.#current) return;
    this.#streak++;
    if (got < asked || this.#streak >= STICK) {
      this.#left = index;
      this.#current = (this.#current + 1) % this.#count;
      this.#streak = 0;
    }
  }

  /** The earliest known due time over every partition. */
  nextDueAt(): number | null {
    let earliest: number | null = null;
    for (const due of this.#due) {
      if (due !== null && (earliest === null || due < earliest)) earliest = due;
    }
    return earliest;
  }
}
