/**
 * The deque behind each priority band of the memory backend (its delayed jobs
 * use the shared heap in `src/_min_heap.ts`).
 *
 * @module
 */

/** A double-ended queue over an array with a moving head (amortised O(1) both ends). */
export class Deque<T> {
  #items: T[] = [];
  #head = 0;

  /** How many items it holds. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Adds at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Adds at the front. */
  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.unshift(item);
  }

  /** Removes one item wherever it is (O(n)); `false` when it is not there. */
  delete(item: T): boolean {
    const at = this.#items.indexOf(item, this.#head);
    if (at < 0) return false;
    this.#items.splice(at, 1);
    return true;
  }

  /** The items, front first. */
  values(): T[] {
    return this.#items.slice(this.#head);
  }

  /** Removes from the front. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined as T;
    // Drop the consumed prefix now and then, so the array does not grow for ever.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}
