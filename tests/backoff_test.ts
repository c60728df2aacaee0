import assert from "node:assert/strict";
import { Backoff, backoff } from "../src/_backoff.ts";

Deno.test("backoff() grows by its factor from the first wait and stops at the cap", () => {
  const shape = { initial: 100, max: 1_000 };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoff(shape, n)), [
    100,
    200,
    400,
    800,
    1_000,
    1_000,
  ]);
  assert.deepEqual([0, 1, 2].map((n) => backoff({ initial: 50, factor: 3 }, n)), [50, 150, 450]);
  assert.deepEqual([0, 5].map((n) => backoff({ initial: 70, factor: 1 }, n)), [70, 70]);
});

Deno.test("backoff() jitter stays within its band: full from zero, equal from half", () => {
  const shape = { initial: 1_000 };
  assert.equal(backoff({ ...shape, jitter: "full" }, 0, () => 0), 0);
  assert.equal(backoff({ ...shape, jitter: "full" }, 0, () => 0.999), 999);
  assert.equal(backoff({ ...shape, jitter: "equal" }, 0, () => 0), 500);
  assert.equal(backoff({ ...shape, jitter: "equal" }, 0, () => 0.5), 750);
  assert.equal(backoff({ ...shape, jitter: "none" }, 0, () => 0), 1_000);
});

Deno.test("backoff() stays a finite whole number for huge attempts, capped or not", () => {
  assert.equal(backoff({ initial: 100, max: 5_000, jitter: "full" }, 10_000, () => 1), 5_000);
  assert.equal(backoff({ initial: 100 }, 10_000), Number.MAX_SAFE_INTEGER);
  assert.equal(backoff({ initial: 0, max: 10 }, 10_000), 0);
  assert.equal(backoff({ initial: 100 }, -3), 100);
});

Deno.test("Backoff counts its attempts and reset() starts over from the first wait", () => {
  const delays = new Backoff({ initial: 10, max: 35 });
  assert.deepEqual([delays.next(), delays.next(), delays.next(), delays.next()], [10, 20, 35, 35]);
  delays.reset();
  assert.equal(delays.next(), 10);
});
