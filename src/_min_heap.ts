/**
 * The one binary min-heap Kiln uses: the memory queue's delayed jobs (by
 * run-at) and the scheduler's task groups (by next run). A leaf, so any module
 * may import it.
 *
 * @module
 */

/**
 * A binary min-heap ordered by a numeric key; items with equal keys come out
 * in the order they went in, so a queue keeps FIFO among jobs due at the same
 * millisecond. `push` and `pop` are O(log n), `peek` is O(1).
 *
 * @typeParam T The items' type.
 *
 * @example Taking items by key, ties in insertion order
 * ```ts
 * import { MinHeap } from "./_min_heap.ts";
 * import assert from "node:assert/strict";
 *
 * const heap = new MinHeap<string>();
 * heap.push(20, "b");
 * heap.push(10, "a");
 * heap.push(20, "c");
 * assert.equal(heap.peekKey(), 10);
 * assert.deepEqual([heap.pop(), heap.pop(), heap.pop(), heap.pop()], ["a", "b", "c", undefined]);
 * ```
 */
export class MinHeap<T> {
  // Parallel arrays: keys and sequence numbers stay unboxed numbers, which keeps
  // comparisons cheap for the memory backend's hundreds of thousands of delayed jobs.
  #keys: number[] = [];
  #seqs: number[] = [];
  #values: T[] = [];
  #seq = 0;

  /** How many items it holds. */
  get size(): number {
    return this.#values.length;
  }

  /**
   * The smallest key, without removing its item.
   *
   * @returns The key, or `undefined` when the heap is empty.
   */
  peekKey(): number | undefined {
    return this.#keys[0];
  }

  /**
   * The item with the smallest key, without removing it.
   *
   * @returns The item, or `undefined` when the heap is empty.
   */
  peek(): T | undefined {
    return this.#values[0];
  }

  /**
   * Adds an item.
   *
   * @param key What the heap orders by (a time in milliseconds, say).
   * @param value The item.
   * @throws {RangeError} When `key` is NaN, which has no place in any order.
   */
  push(key: number, value: T): void {
    // NaN compares false both ways and would silently break the heap's order.
    if (Number.isNaN(key)) throw new RangeError("A heap key must be a number, got NaN");
    this.#keys.push(key);
    this.#seqs.push(this.#seq++);
    this.#values.push(value);
    let i = this.#values.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  /**
   * Removes the item with the smallest key.
   *
   * @returns The item, or `undefined` when the heap is empty.
   */
  pop(): T | undefined {
    const n = this.#values.length;
    if (n === 0) return undefined;
    const top = this.#values[0];
    this.#swap(0, n - 1);
    this.#keys.pop();
    this.#seqs.pop();
    this.#values.pop();
    const size = n - 1;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < size && this.#less(left, smallest)) smallest = left;
      if (right < size && this.#less(right, smallest)) smallest = right;
      if (smallest === i) break;
      this.#swap(i, smallest);
      i = smallest;
    }
    return top;
  }

  /** Removes every item. */
  clear(): void {
    this.#keys = [];
    this.#seqs = [];
    this.#values = [];
  }

  #less(a: number, b: number): boolean {
    return this.#keys[a] < this.#keys[b] ||
      (this.#keys[a] === this.#keys[b] && this.#seqs[a] < this.#seqs[b]);
  }

  #swap(a: number, b: number): void {
    [this.#keys[a], this.#keys[b]] = [this.#keys[b], this.#keys[a]];
    [this.#seqs[a], this.#seqs[b]] = [this.#seqs[b], this.#seqs[a]];
    [this.#values[a], this.#values[b]] = [this.#values[b], this.#values[a]];
  }
}
