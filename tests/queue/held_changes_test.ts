/**
 * HeldChanges decides when a worker's backend publishes the changes its takes held
 * back: only when no later take on the queue left after the last one that held.
 */
import assert from "node:assert/strict";
import { FLUSH_AFTER_MS, HeldChanges } from "../../src/queue/_held_changes.ts";
import type { Clock } from "../../src/clock.ts";

/** A clock whose timers fire only when the test says. */
function manualClock() {
  const timers: { callback: () => void; ms: number }[] = [];
  const clock: Clock = {
    now: () => 0,
    setTimeout(callback, ms) {
      timers.push({ callback, ms });
      return timers.length;
    },
    clearTimeout() {},
  };
  const fire = () => {
    for (const { callback } of timers.splice(0)) callback();
  };
  return { clock, timers, fire };
}

function tracker() {
  const { clock, timers, fire } = manualClock();
  const flushed: string[] = [];
  const held = new HeldChanges(clock, (queue) => {
    flushed.push(queue);
    return Promise.resolve();
  });
  return { held, flushed, timers, fire };
}

Deno.test("a take that held, with none sent after it, is flushed once its wait is over", () => {
  const { held, flushed, timers, fire } = tracker();
  held.held("q", held.sending("q"));
  assert.deepEqual(timers.map((t) => t.ms), [FLUSH_AFTER_MS]);
  assert.deepEqual(flushed, [], "not before the wait");
  fire();
  assert.deepEqual(flushed, ["q"]);
});

Deno.test("a take sent after the one that held carries its changes: no flush", () => {
  const { held, flushed, fire } = tracker();
  held.held("q", held.sending("q"));
  held.sending("q");
  fire();
  assert.deepEqual(flushed, []);
});

Deno.test("two takes on their way at once that both held are flushed whichever answers first", () => {
  for (const order of [[0, 1], [1, 0]]) {
    const { held, flushed, fire } = tracker();
    const takes = [held.sending("q"), held.sending("q")];
    for (const i of order) held.held("q", takes[i]);
    fire();
    assert.deepEqual(flushed, ["q"], `answers in order ${order}`);
  }
});

Deno.test("queues are tracked apart: a take on one does not stand in for another's flush", () => {
  const { held, flushed, fire } = tracker();
  held.held("a", held.sending("a"));
  held.sending("b");
  fire();
  assert.deepEqual(flushed, ["a"]);
});
