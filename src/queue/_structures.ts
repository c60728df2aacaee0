/**
 * The two small data structures behind the memory backend: a deque for each
 * priority band and a binary min-heap for delayed jobs.
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

/** A binary min-heap ordered by a numeric key, ties broken by insertion order. */
export class MinHeap<T> {
  #keys: number[] = [];
  #seqs: number[] = [];
  #values: T[] = [];
  #seq = 0;

  /** How many items it holds. */
  get size(): number {
    return this.#values.length;
  }

  /** The smallest key, or `undefined` when empty. */
  peekKey(): number | undefined {
    return this.#keys[0];
  }

  /** The item with the smallest key, or `undefined` when empty. */
  peek(): T | undefined {
    return this.#values[0];
  }

  /** Adds an item. */
  push(key: number, value: T): void {
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

  /** Removes and returns the item with the smallest key. */
  pop(): T | undefined {
    const n = this.#values.length;
    if (n === 0) return undefined;
    const top = this.#values[0];
    this.#swap(0, n - 1);
    this.#keys.pop();
    this.#seqs.pop();
    this.#values.pop();
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n - 1 && this.#less(left, smallest)) smallest = left;
      if (right < n - 1 && this.#less(right, smallest)) smallest = right;
      if (smallest === i) break;
      this.#swap(i, smallest);
      i = smallest;
    }
    return top;
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
