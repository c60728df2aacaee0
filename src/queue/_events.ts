/**
 * `queue.events()`: a backend's job state changes as one stream over several queues.
 *
 * @module
 */
import type { JobEvent, QueueBackend } from "./backend.ts";

/** Options for `queue.events()`. */
export interface EventsOptions {
  /** The queues to watch. @default every queue the backend has seen when called */
  queues?: readonly string[];
  /** Stops listening when aborted (the stream then ends). */
  signal?: AbortSignal;
}

/**
 * A stream of job state changes that is also an async iterable; `ready`
 * settles once every queue is being listened to (changes before that are missed).
 */
export type JobEventStream = ReadableStream<JobEvent> & AsyncIterable<JobEvent> & {
  readonly ready: Promise<void>;
};

/**
 * The most changes held for a reader that does not keep up; newer ones are
 * dropped until it reads (docs/QUEUES.md says so: it loses the newest).
 */
export const MAX_BUFFERED_EVENTS = 10_000;

/** Streams the changes of the given queues until cancelled or aborted. */
export function watchJobs(backend: QueueBackend, options: EventsOptions): JobEventStream {
  let listening!: () => void;
  let failed!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });
  ready.catch(() => {}); // also reported through the stream
  let stops: (() => Promise<void>)[] = [];
  let closed = false;
  let forgetAbort = () => {};
  const stop = async () => {
    closed = true;
    forgetAbort(); // a long-lived signal must not keep this stream reachable
    const pending = stops;
    stops = [];
    await Promise.all(pending.map((off) => off().catch(() => {})));
  };
  const stream = new ReadableStream<JobEvent>({
    async start(controller) {
      try {
        await listen(controller);
        listening();
      } catch (error) {
        failed(error);
        await stop();
        controller.error(error);
      }
    },
    cancel: stop,
  }, { highWaterMark: 0 });
  async function listen(controller: ReadableStreamDefaultController<JobEvent>): Promise<void> {
    const names = options.queues ?? await backend.queues();
    const push = (event: JobEvent) => {
      // A slow reader loses the newest changes rather than growing memory without bound.
      // With a high-water mark of 0, desiredSize is minus the number of changes held.
      if (!closed && (controller.desiredSize ?? 0) > -MAX_BUFFERED_EVENTS) {
        controller.enqueue(event);
      }
    };
    for (const name of names) {
      const unwatch = await backend.watch(name, push);
      // Cancelled (or left with break) while this subscription was being opened: stop()
      // has already run, so end this one here rather than leave it open for good.
      if (closed) return void await unwatch().catch(() => {});
      stops.push(unwatch);
    }
    const onAbort = () => {
      stop().then(() => {
        try {
          controller.close();
        } catch {
          // already closed by a cancel
        }
      });
    };
    if (options.signal?.aborted) onAbort();
    else if (options.signal) {
      const signal = options.signal;
      signal.addEventListener("abort", onAbort, { once: true });
      forgetAbort = () => signal.removeEventListener("abort", onAbort);
    }
  }
  return Object.assign(stream, { ready }) as JobEventStream;
}
