/**
 * The small logger interface workers and handlers write to.
 *
 * @module
 */

/** Extra structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/**
 * Where a worker and its handlers log. Any object with these four methods
 * works: `console`, pino, or an adapter to your own logger.
 */
export interface Logger {
  /** Detail useful when debugging. */
  debug(message: string, fields?: LogFields): void;
  /** Normal operation worth recording. */
  info(message: string, fields?: LogFields): void;
  /** Something went wrong but the worker carries on. */
  warn(message: string, fields?: LogFields): void;
  /** Something failed. */
  error(message: string, fields?: LogFields): void;
}

/**
 * A logger writing to `console`, each line prefixed with `[kiln]`.
 *
 * @example Logging with fields
 * ```ts
 * import { consoleLogger } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const original = console.debug;
 * const seen: unknown[][] = [];
 * console.debug = (...args: unknown[]) => void seen.push(args);
 * try {
 *   consoleLogger.debug("reserved jobs", { count: 3 });
 * } finally {
 *   console.debug = original;
 * }
 * assert.deepEqual(seen, [["[kiln] reserved jobs", { count: 3 }]]);
 * ```
 */
export const consoleLogger: Logger = {
  debug: (message, fields) => console.debug(`[kiln] ${message}`, fields ?? ""),
  info: (message, fields) => console.info(`[kiln] ${message}`, fields ?? ""),
  warn: (message, fields) => console.warn(`[kiln] ${message}`, fields ?? ""),
  error: (message, fields) => console.error(`[kiln] ${message}`, fields ?? ""),
};

/**
 * A logger that drops everything, for tests and quiet drains.
 *
 * @example Silencing a worker
 * ```ts
 * import { silentLogger } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const original = console.error;
 * let printed = 0;
 * console.error = () => void printed++;
 * try {
 *   silentLogger.error("never printed");
 * } finally {
 *   console.error = original;
 * }
 * assert.equal(printed, 0);
 * ```
 */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Returns a logger that adds `fields` to every line written through it. */
export function withFields(logger: Logger, fields: LogFields): Logger {
  return {
    debug: (message, extra) => logger.debug(message, { ...fields, ...extra }),
    info: (message, extra) => logger.info(message, { ...fields, ...extra }),
    warn: (message, extra) => logger.warn(message, { ...fields, ...extra }),
    error: (message, extra) => logger.error(message, { ...fields, ...extra }),
  };
}

/** Describes an error in one line for a log field: `Name: message`, or the value as text. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
