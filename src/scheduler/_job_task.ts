/**
 * What `Scheduler.job()` registers: a task whose handler dispatches a queue
 * job, with its arguments and payload checked at registration.
 *
 * @module
 */
// Types only: the scheduler dispatches through the queue it is given, so it never
// loads the queue module (or valibot) at run time.
import type { JobDefinition, PayloadInput, PayloadSchema } from "../queue/mod.ts";
import type { JobDispatcher, JobTaskOptions } from "./scheduler_options.ts";
import type { TaskHandler } from "./types.ts";

/** A job task's name and the handler that dispatches its job. */
export interface JobTask {
  name: string;
  handler: TaskHandler;
}

/**
 * Checks `job()`'s arguments and builds the task's handler.
 *
 * @throws {TypeError} When the job is not a job definition, the queue cannot
 *   dispatch, or the payload fails the job's schema.
 */
export function jobTask<S extends PayloadSchema>(
  job: JobDefinition<S>,
  payload: PayloadInput<S>,
  queue: JobDispatcher,
  options: JobTaskOptions,
): JobTask {
  if (typeof job?.name !== "string" || job.name.length === 0 || typeof job.schema !== "object") {
    throw new TypeError("Scheduler job(): expected a job definition from defineJob()");
  }
  const name = options.name ?? `job:${job.name}`;
  if (typeof queue?.dispatch !== "function") {
    throw new TypeError(`Task "${name}": job() expects a queue with a dispatch() method`);
  }
  const issues = schemaIssues(job.schema, payload);
  if (issues !== undefined) {
    throw new TypeError(
      `Task "${name}": invalid payload for job ${job.name}: ${issues.join("; ")}`,
    );
  }
  const dispatchOptions = options.dispatch;
  return {
    name,
    handler: ({ scheduledAt }) =>
      queue.dispatch(job, payload, {
        // One job id per (task, scheduled time): a retried dispatch, or a second
        // instance ticking the same occurrence, enqueues nothing new.
        jobId: `${name}@${scheduledAt.toISOString()}`,
        ...dispatchOptions,
      }),
  };
}

/** The subset of the Standard Schema interface (which valibot implements) used here. */
interface StandardSchemaLike {
  readonly "~standard"?: {
    validate(value: unknown): StandardResult | PromiseLike<StandardResult>;
  };
}

type StandardResult = {
  readonly issues?: readonly {
    readonly message: string;
    readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[];
  }[];
};

/**
 * Checks a payload against a schema synchronously through the Standard Schema
 * interface, without loading valibot. `undefined` when the payload passes or
 * the schema can only answer asynchronously (the queue checks again at dispatch).
 */
function schemaIssues(schema: PayloadSchema, payload: unknown): string[] | undefined {
  const standard = (schema as StandardSchemaLike)["~standard"];
  if (typeof standard?.validate !== "function") return undefined;
  const result = standard.validate(payload);
  if (typeof (result as PromiseLike<unknown>).then === "function") {
    // An asynchronous schema: a rejection here is not ours to report.
    Promise.resolve(result).catch(() => {});
    return undefined;
  }
  const { issues } = result as StandardResult;
  if (!issues || issues.length === 0) return undefined;
  return issues.map((issue) => {
    const path = (issue.path ?? [])
      .map((segment) => String(typeof segment === "object" ? segment.key : segment))
      .join(".");
    return `${path || "(payload)"}: ${issue.message}`;
  });
}
