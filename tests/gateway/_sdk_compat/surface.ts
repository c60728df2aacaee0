/**
 * The command surface of the installed `@upstash/redis`, found by reflection, so a new SDK
 * version's new method fails the suite until someone classifies it (a case, an expected
 * failure, or a non-command).
 *
 * The SDK declares most commands as arrow-function fields (own properties of each
 * instance), a few as prototype methods (`scan`, `createScript`), and groups some behind
 * getters (`json`, `functions`, `search`, `vector`) whose members become `json.get` etc.
 *
 * @module
 */

import type { Redis } from "@upstash/redis";

/** Client plumbing that sends no command of its own. */
export const NOT_COMMANDS: ReadonlySet<string> = new Set([
  "use", // adds a request middleware
  "addTelemetry", // sets telemetry headers
  "autoPipeline", // protected: the proxy enableAutoPipelining installs (the suite's "auto" mode)
  "readYourWritesSyncToken", // a getter over the last response's sync token
]);

/** Getters that return a group of commands; each member is listed as `<group>.<name>`. */
const GROUPS = ["json", "functions", "search", "vector"] as const;

function functionNames(object: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = object; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === "constructor") continue;
      const descriptor = Object.getOwnPropertyDescriptor(o, name);
      if (descriptor && "value" in descriptor && typeof descriptor.value === "function") {
        names.add(name);
      }
    }
  }
  return [...names];
}

/** Lists a group's members (nested objects such as `search.alias` become `search.alias.add`). */
function groupMembers(prefix: string, group: Record<string, unknown>): string[] {
  return Object.entries(group).flatMap(([name, member]) => {
    if (typeof member === "function") return [`${prefix}.${name}`];
    if (member !== null && typeof member === "object") {
      return groupMembers(`${prefix}.${name}`, member as Record<string, unknown>);
    }
    return [];
  });
}

/** @returns every command method of `target` (a `Redis` or a pipeline), sorted */
export function commandMethods(target: object): string[] {
  const names = functionNames(target).filter((name) => !NOT_COMMANDS.has(name));
  for (const group of GROUPS) {
    const value = (target as Record<string, unknown>)[group];
    if (value !== null && typeof value === "object") {
      names.push(...groupMembers(group, value as Record<string, unknown>));
    }
  }
  return names.sort();
}

/** @returns the command methods of a `Redis` client, of its `pipeline()` and of its `multi()` */
export function sdkSurface(redis: Redis): {
  client: string[];
  pipeline: string[];
  multi: string[];
} {
  return {
    client: commandMethods(redis),
    pipeline: commandMethods(redis.pipeline()),
    multi: commandMethods(redis.multi()),
  };
}
