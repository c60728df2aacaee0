/**
 * A scheduler's registered tasks, and its plan: the tasks grouped by shared
 * compiled pattern, so the timer files one heap entry per distinct schedule.
 *
 * @module
 */
import { EVERY_MINUTE } from "./_cron_fields.ts";
import type { TaskDefinition } from "./_definition.ts";
import { type CompiledPattern, PatternCache } from "./_patterns.ts";
import type { TaskHandler } from "./types.ts";

/** A group of tasks sharing one compiled pattern, filed in the heap by its next run. */
export interface Group {
  at: number;
  pattern: CompiledPattern;
  tasks: TaskDefinition[];
}

/** The tasks by name, in registration order, with the plan built from them. */
export class TaskRegistry {
  /** Shared with the tasks' builders, which check expressions against it. */
  readonly patterns = new PatternCache();
  #timezone: string;
  #definitions = new Map<string, TaskDefinition>();
  #groups: Group[] | undefined;

  /** @param timezone The time zone of tasks that set none. */
  constructor(timezone: string) {
    this.#timezone = timezone;
  }

  /** Whether the plan is up to date with every change. */
  get planned(): boolean {
    return this.#groups !== undefined;
  }

  /** Every task, in registration order. */
  definitions(): IterableIterator<TaskDefinition> {
    return this.#definitions.values();
  }

  /** The task with this name; `then()` references are checked when planning. */
  get(name: string): TaskDefinition | undefined {
    return this.#definitions.get(name);
  }

  /**
   * Adds a task that runs every minute until its builder says otherwise.
   *
   * @throws {TypeError} When the name is empty or taken, or the handler is not a function.
   */
  register(name: string, handler: TaskHandler, kind: "call" | "job"): TaskDefinition {
    if (typeof name !== "string" || name.trim().length === 0 || hasControlCharacter(name)) {
      throw new TypeError(
        `Task names must be non-empty strings without control characters, got ${
          JSON.stringify(name)
        }`,
      );
    }
    if (this.#definitions.has(name)) {
      throw new TypeError(`Task "${name}" is already registered`);
    }
    if (typeof handler !== "function") {
      throw new TypeError(`Task "${name}": the handler must be a function`);
    }
    const definition: TaskDefinition = { name, handler, kind, fields: [...EVERY_MINUTE] };
    this.#definitions.set(name, definition);
    return definition;
  }

  /** Forgets a task, if `definition` is still the one registered under its name. */
  unregister(definition: TaskDefinition): void {
    if (this.#definitions.get(definition.name) === definition) {
      this.#definitions.delete(definition.name);
    }
  }

  /**
   * Drops the plan after a change.
   *
   * @returns Whether there was a plan to drop.
   */
  invalidate(): boolean {
    if (this.#groups === undefined) return false;
    this.#groups = undefined;
    return true;
  }

  /** Forgets which occurrences ran, after the wall clock was set back. */
  forgetRuns(): void {
    for (const definition of this.#definitions.values()) definition.lastScheduledAt = undefined;
  }

  /**
   * A task's compiled pattern, compiled on first use after a change.
   *
   * @throws {TypeError} When the schedule cannot be compiled.
   */
  pattern(definition: TaskDefinition): CompiledPattern {
    if (!definition.pattern) {
      const expression = definition.fields.join(" ");
      try {
        definition.pattern = this.patterns.get(expression, definition.timezone ?? this.#timezone);
      } catch (error) {
        throw new TypeError(
          `Task "${definition.name}": invalid schedule ${JSON.stringify(expression)}: ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
      }
    }
    return definition.pattern;
  }

  /**
   * Groups tasks by shared pattern and checks `then()` references, once per change.
   *
   * @throws {TypeError} When a task chains to an unknown task or back to itself,
   *   or a schedule cannot be compiled.
   */
  plan(): Group[] {
    if (this.#groups) return this.#groups;
    const byPattern = new Map<CompiledPattern, Group>();
    for (const definition of this.#definitions.values()) {
      for (const next of definition.chain ?? []) {
        if (typeof next === "string" && !this.#definitions.has(next)) {
          throw new TypeError(`Task "${definition.name}": then() names unknown task "${next}"`);
        }
      }
      const pattern = this.pattern(definition);
      let group = byPattern.get(pattern);
      if (!group) byPattern.set(pattern, group = { at: 0, pattern, tasks: [] });
      group.tasks.push(definition);
    }
    this.#assertNoChainCycle();
    this.patterns.retain(
      new Set([...byPattern.keys()].map((p) => `${p.timezone} ${p.expression}`)),
    );
    return this.#groups = [...byPattern.values()];
  }

  #assertNoChainCycle(): void {
    const state = new Map<string, "visiting" | "done">();
    const visit = (name: string): void => {
      if (state.get(name) === "done") return;
      if (state.get(name) === "visiting") {
        throw new TypeError(`Task "${name}": then() chains back to itself`);
      }
      state.set(name, "visiting");
      for (const next of this.#definitions.get(name)?.chain ?? []) {
        if (typeof next === "string") visit(next);
      }
      state.set(name, "done");
    };
    for (const name of this.#definitions.keys()) visit(name);
  }
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}
