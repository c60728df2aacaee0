/**
 * Long-running mode's one timer: a heap of task groups by next run, armed for
 * the earliest (capped at `maxWait`, so a machine waking from sleep notices),
 * that launches each due occurrence and copes with the wall clock jumping.
 *
 * @module
 */
import type { TaskDefinition } from "./_definition.ts";
import { MinHeap } from "../_min_heap.ts";
import type { Group, TaskRegistry } from "./_task_registry.ts";
import type { Clock } from "../clock.ts";

/** A clock moving back by more than this counts as a jump, not as timer jitter. */
const BACKWARD_JUMP_MS = 1_000;

/** What the loop needs from its scheduler. */
export interface TimerLoopOptions {
  clock: Clock;
  /** The longest wait before checking the clock again. */
  maxWait: number;
  /** Where the plan comes from, again after the clock is set back. */
  tasks: TaskRegistry;
  /** Starts one occurrence's run; the loop does not wait for it. */
  launch(definition: TaskDefinition, scheduledAt: number): void;
}

/** Runs a plan from one timer between `start()` and `stop()`. */
export class TimerLoop {
  #clock: Clock;
  #maxWait: number;
  #tasks: TaskRegistry;
  #launch: (definition: TaskDefinition, scheduledAt: number) => void;
  #heap = new MinHeap<Group>();
  #running = false;
  #keepAlive = false;
  #timer: unknown;
  #lastTick = 0;

  constructor(options: TimerLoopOptions) {
    this.#clock = options.clock;
    this.#maxWait = options.maxWait;
    this.#tasks = options.tasks;
    this.#launch = options.launch;
  }

  /** Whether the loop is between `start()` and `stop()`. */
  get running(): boolean {
    return this.#running;
  }

  /** Files the plan's groups from now and arms the timer. */
  start(groups: Group[], keepAlive: boolean): void {
    this.#running = true;
    this.#keepAlive = keepAlive;
    this.#lastTick = this.#clock.now();
    this.#fill(groups, this.#lastTick);
    this.#arm();
  }

  /** Files a new plan's groups from now and re-arms the timer. */
  replan(groups: Group[]): void {
    this.#fill(groups, this.#clock.now());
    this.#arm();
  }

  /** Clears the timer and the heap; runs already launched carry on. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#heap.clear();
  }

  /** Files every group in the heap by its first occurrence at or after `now`. */
  #fill(groups: Group[], now: number): void {
    this.#heap.clear();
    for (const group of groups) {
      const at = group.pattern.next(now - 1);
      if (at === null) continue;
      group.at = at;
      this.#heap.push(group.at, group);
    }
  }

  #arm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#running) return;
    const next = this.#heap.peek();
    const delay = next === undefined
      ? this.#maxWait
      : Math.min(Math.max(next.at - this.#clock.now(), 0), this.#maxWait);
    this.#timer = this.#clock.setTimeout(() => this.#tick(), delay, !this.#keepAlive);
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const now = this.#clock.now();
    if (now < this.#lastTick - BACKWARD_JUMP_MS) {
      // The wall clock was set back: occurrences ahead of the new time are real again.
      this.#tasks.forgetRuns();
      this.#fill(this.#tasks.plan(), now);
    }
    this.#lastTick = now;
    for (let group = this.#heap.peek(); group && group.at <= now; group = this.#heap.peek()) {
      this.#heap.pop();
      let occurrence: number | null = group.at;
      let following = group.pattern.next(occurrence);
      if (following !== null && following <= now) {
        // Asleep or jumped forward past several occurrences: run the latest one once.
        occurrence = group.pattern.latestAtOrBefore(now);
        following = group.pattern.next(now);
      }
      if (occurrence !== null) {
        for (const definition of group.tasks) this.#launch(definition, occurrence);
      }
      if (following !== null) {
        group.at = following;
        this.#heap.push(group.at, group);
      }
    }
    this.#arm();
  }
}
