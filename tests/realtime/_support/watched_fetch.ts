/**
 * A `fetch` for an `UpstashRedis` that tells a test what its subscription is
 * doing: every subscribe attempt, and the moment the gateway confirms one
 * (the SSE `subscribe` event), so tests wait for events instead of sleeping.
 *
 * @module
 */

/** The wrapped fetch and what it saw. */
export interface WatchedFetch {
  /** Pass this as the `fetch` of an `UpstashRedis`. */
  readonly fetch: typeof fetch;
  /** How many subscribe requests were sent (refused ones included). */
  readonly attempts: number;
  /** Resolves at the next subscription the gateway confirms. */
  nextReady(): Promise<void>;
}

/** Wraps `fetch` (optionally another wrapper) to watch subscriptions. */
export function watchedFetch(inner: typeof fetch = fetch): WatchedFetch {
  let attempts = 0;
  let waiters: Array<() => void> = [];
  const ready = () => {
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake();
  };
  const watched: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.includes("/subscribe/")) return await inner(input, init);
    attempts++;
    const response = await inner(input, init);
    if (!response.ok || response.body === null) return response;
    const decoder = new TextDecoder();
    let confirmed = false;
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          controller.enqueue(chunk);
          if (!confirmed && decoder.decode(chunk, { stream: true }).includes("subscribe,")) {
            confirmed = true;
            // After the chunk is handed on, so the client has it when the test wakes.
            queueMicrotask(ready);
          }
        },
      }),
    );
    return new Response(body, response);
  };
  return {
    fetch: watched,
    get attempts() {
      return attempts;
    },
    nextReady: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
}
