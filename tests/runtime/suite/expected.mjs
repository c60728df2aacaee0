/**
 * What each runtime must report, computed from the shared case list alone
 * (`cases/mod.mjs` and `cases/host_cases.mjs`), never from what a runner ran.
 * `run.ts` runs `node expected.mjs` once and holds every runtime's report
 * against it, so a case that is dropped, crashes its runner or is never
 * registered fails that runtime's count.
 *
 * Prints one JSON object: for each runtime, the cases it must run and the ones
 * declared as not for it (with the declared reason).
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { hostCases, runsOn, RUNTIMES, suites } from "./cases/mod.mjs";

/**
 * @typedef {object} Expected
 * @property {{ suite: string; name: string }[]} cases Every case the runtime must report once.
 * @property {{ suite: string; name: string; because: string }[]} excluded The cases declared
 *   not to run there, with the reason.
 */

/**
 * @returns {Record<import("./cases/mod.mjs").Runtime, Expected>}
 * @throws {Error} When two cases of a suite share a name (their results could not be told
 *   apart), or an exclusion gives no reason.
 */
export function expected() {
  const all = [
    ...suites.flatMap((suite) => suite.cases.map((c) => ({ ...c, suite: suite.name }))),
    ...hostCases,
  ];
  const seen = new Set();
  for (const { suite, name, runtimes, because } of all) {
    const key = `${suite} › ${name}`;
    if (seen.has(key)) throw new Error(`Two cases are named ${key}`);
    seen.add(key);
    if (runtimes !== undefined && !because) {
      throw new Error(
        `${key} runs on ${runtimes.join(", ")} only but says not why (because)`,
      );
    }
    for (const runtime of runtimes ?? []) {
      if (!RUNTIMES.includes(runtime)) {
        throw new Error(`${key} names unknown runtime ${runtime}`);
      }
    }
  }
  return Object.fromEntries(RUNTIMES.map((runtime) => [runtime, {
    cases: all.filter((c) => runsOn(c, runtime)).map(({ suite, name }) => ({
      suite,
      name,
    })),
    excluded: all.filter((c) => !runsOn(c, runtime))
      .map(({ suite, name, because }) => ({ suite, name, because })),
  }]));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(JSON.stringify(expected()));
}
