/**
 * Stands in for `@opentelemetry/api` in the loading test's import map: counts
 * each time it is loaded, then is the real package.
 *
 * @module
 */
const counter = globalThis as { kilnOtelLoads?: number };
counter.kilnOtelLoads = (counter.kilnOtelLoads ?? 0) + 1;
export * from "npm:@opentelemetry/api@^1.9.1";
