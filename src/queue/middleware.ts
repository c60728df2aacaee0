/**
 * Job middleware: functions wrapped around every handler a worker runs, in
 * the `(ctx, next)` style of Hono and Koa.
 *
 * @module
 */
import type { Limiter, StoredJob } from "./backend.ts";
import type { JobContext } from "./job.ts";
import { NextCalledTwiceError } from "./errors.ts";

/** What middleware sees: the handler's context plus the job and the backend's limiter. */
export interface MiddlewareContext extends JobContext {
  /** The job as reserved: id, name, payload as stored, attempts, previous errors. */
  readonly job: StoredJob;
  /** Shared locks and counters of the worker's backend, for rate limits and overlap guards. */
  readonly limiter: Limiter;
  /** The worker's clock, in epoch milliseconds. */
  now(): number;
}

/**
 * Wraps the handler: call `next()` to run the rest of the chain and return
 * (or transform) its result; throw to fail the attempt; skip `next()` and
 * call `ctx.release(ms)` to put the job back for later.
 */
export type Middleware = (
  ctx: MiddlewareContext,
  next: () => Promise<unknown>,
) => Promise<unknown> | unknown;

/** Runs `middleware` in order around `handler`. */
export function compose(
  middleware: readonly Middleware[],
  ctx: MiddlewareContext,
  handler: () => Promise<unknown> | unknown,
): Promise<unknown> {
  const run = async (index: number): Promise<unknown> => {
    if (index === middleware.length) return await handler();
    let called = false;
    return await middleware[index](ctx, () => {
      if (called) return Promise.reject(new NextCalledTwiceError());
      called = true;
      return run(index + 1);
    });
  };
  return run(0);
}
