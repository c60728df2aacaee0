/**
 * Every case of the SDK compatibility suite, gathered, and the error-text helper the
 * expected failures use.
 *
 * @module
 */

import type { CompatCase } from "./context.ts";
import { GEO_HLL_CASES } from "./geo_hll.ts";
import { HASH_CASES } from "./hashes.ts";
import { KEY_CASES } from "./keys.ts";
import { LIST_CASES } from "./lists.ts";
import { PUBSUB_CASES } from "./pubsub.ts";
import { SCRIPTING_CASES } from "./scripting.ts";
import { SET_CASES } from "./sets.ts";
import { SORTED_SET_CASES } from "./sorted_sets.ts";
import { STREAM_CASES } from "./streams.ts";
import { STRING_CASES } from "./strings.ts";
import { TRANSACTION_CASES } from "./transactions.ts";

/** Every method that must work against a plain Redis 7.0 through the gateway. */
export const CASES: readonly CompatCase[] = [
  ...STRING_CASES,
  ...KEY_CASES,
  ...HASH_CASES,
  ...LIST_CASES,
  ...SET_CASES,
  ...SORTED_SET_CASES,
  ...STREAM_CASES,
  ...GEO_HLL_CASES,
  ...SCRIPTING_CASES,
  ...PUBSUB_CASES,
  ...TRANSACTION_CASES,
];

/**
 * The server's error text inside an `@upstash/redis` error: without the SDK's
 * `, command was: […]` suffix (HTTP errors) and `Command … failed: ` prefix (pipelines).
 */
export function serverError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/^Command (\d+ \[ \S+ \] )?failed: /, "")
    .replace(/, command was: [\s\S]*$/, "");
}
