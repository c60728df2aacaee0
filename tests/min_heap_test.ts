import assert from "node:assert/strict";
import { MinHeap } from "../src/_min_heap.ts";

/** A seeded generator (mulberry32), so a failing sequence can be replayed. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

Deno.test("an empty MinHeap peeks and pops undefined and has size 0", () => {
  const heap = new MinHeap<string>();
  assert.equal(heap.size, 0);
  assert.equal(heap.peek(), undefined);
  assert.equal(heap.peekKey(), undefined);
  assert.equal(heap.pop(), undefined);
  assert.equal(heap.size, 0);
});

Deno.test("MinHeap pops in key order, equal keys in insertion order, under random pushes and pops", () => {
  const random = seeded(7);
  const heap = new MinHeap<{ key: number; seq: number }>();
  // The reference: a sorted list, stable by insertion.
  const model: { key: number; seq: number }[] = [];
  let seq = 0;
  for (let step = 0; step < 20_000; step++) {
    if (random() < 0.6 || model.length === 0) {
      // Few distinct keys, so ties are common and their order is tested too.
      const item = { key: Math.floor(random() * 50) - 10, seq: seq++ };
      heap.push(item.key, item);
      model.push(item);
      model.sort((a, b) => a.key - b.key || a.seq - b.seq);
    } else {
      assert.equal(heap.peekKey(), model[0].key);
      assert.equal(heap.peek(), model[0]);
      assert.equal(heap.pop(), model.shift());
    }
    assert.equal(heap.size, model.length);
  }
  while (model.length > 0) assert.equal(heap.pop(), model.shift());
  assert.equal(heap.pop(), undefined);
});

Deno.test("MinHeap orders infinite keys last and negative keys first", () => {
  const heap = new MinHeap<string>();
  heap.push(Infinity, "never");
  heap.push(0, "now");
  heap.push(-Infinity, "always");
  heap.push(-1, "before");
  assert.deepEqual([heap.pop(), heap.pop(), heap.pop(), heap.pop()], [
    "always",
    "before",
    "now",
    "never",
  ]);
});

Deno.test("MinHeap refuses a NaN key, which would corrupt its order, and keeps what it holds", () => {
  const heap = new MinHeap<string>();
  heap.push(2, "b");
  heap.push(1, "a");
  assert.throws(() => heap.push(NaN, "bad"), RangeError);
  assert.equal(heap.size, 2);
  assert.deepEqual([heap.pop(), heap.pop()], ["a", "b"]);
});

Deno.test("MinHeap.clear() empties it, and it works again afterwards", () => {
  const heap = new MinHeap<number>();
  for (let n = 0; n < 10; n++) heap.push(n, n);
  heap.clear();
  assert.equal(heap.size, 0);
  assert.equal(heap.pop(), undefined);
  heap.push(5, 5);
  heap.push(3, 3);
  assert.deepEqual([heap.pop(), heap.pop()], [3, 5]);
});
