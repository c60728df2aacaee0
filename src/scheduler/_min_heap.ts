/**
 * A binary min-heap keyed by a number, so the scheduler finds its earliest
 * next run in O(1) and re-files a group in O(log n).
 *
 * @module
 */

/** Entries carry their own key, so the heap needs no comparator. */
export interface HeapEntry {
  /** The key the heap orders by (a next-run time in milliseconds). */
  at: number;
}

/** A min-heap of entries ordered by `at`. */
export class MinHeap<T extends HeapEntry> {
  #items: T[] = [];

  /** The entry with the smallest `at`, without removing it. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds an entry. */
  push(entry: T): void {
    const items = this.#items;
    items.push(entry);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent].at <= entry.at) break;
      items[index] = items[parent];
      index = parent;
    }
    items[index] = entry;
  }

  /** Removes and returns the entry with the smallest `at`. */
  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && items[right].at < items[left].at ? right : left;
      if (items[child].at >= last.at) break;
      items[index] = items[child];
      index = child;
    }
    items[index] = last;
    return top;
  }

  /** Removes every entry. */
  clear(): void {
    this.#items = [];
  }
}
