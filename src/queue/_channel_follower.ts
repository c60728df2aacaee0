/**
 * A pub/sub subscription that outlives outages: when the subscription ends
 * without being closed (the gateway crashed or restarted, the network broke),
 * it subscribes again after the shared back-off, on the given clock, until
 * stopped. What a live view needs: a dashboard left open through a deploy of
 * the gateway starts hearing changes again by itself. Messages published
 * while no subscription was open are missed (pub/sub keeps nothing), so a
 * view re-reads what it shows when it needs to be exact.
 *
 * @module
 */
import { Backoff } from "../_backoff.ts";
import type { Clock } from "../clock.ts";
import type { RedisLike, RedisSubscription, SubscribeHandlers } from "../redis/redis_like.ts";

/** The waits between attempts to subscribe again: 100 ms doubling to 5 s, spread. */
const RESUBSCRIBE = { initial: 100, factor: 2, max: 5_000, jitter: "equal" } as const;

/**
 * Subscribes to `channel` and keeps subscribing again whenever the
 * subscription is lost, until the returned function is called.
 *
 * @param onReopened Called after each subscription made again (not the first).
 * @returns Stops following: no further subscription is made, the open one is closed.
 * @throws {RedisError} When the first subscription fails (the caller learns at once).
 */
export async function followChannel(
  redis: RedisLike,
  channel: string,
  handlers: Pick<SubscribeHandlers, "onMessage" | "gatherMs">,
  clock: Clock,
  onReopened: () => void = () => {},
): Promise<() => Promise<void>> {
  const backoff = new Backoff(RESUBSCRIBE);
  let current: RedisSubscription | undefined;
  let timer: unknown;
  let stopped = false;
  const follow = (subscription: RedisSubscription) => {
    current = subscription;
    const again = () => {
      if (!stopped && current === subscription) retry();
    };
    subscription.closed.then(again, again);
  };
  const retry = () => {
    timer = clock.setTimeout(async () => {
      timer = undefined;
      if (stopped) return;
      try {
        const subscription = await redis.subscribe(channel, handlers);
        if (stopped) return void await subscription.close().catch(() => {});
        backoff.reset();
        follow(subscription);
        onReopened();
      } catch {
        retry(); // still unreachable: wait longer
      }
    }, backoff.next());
  };
  follow(await redis.subscribe(channel, handlers));
  return async () => {
    stopped = true;
    clock.clearTimeout(timer);
    await current?.close();
  };
}
