/**
 * An HTTP receiver for Pusher webhooks that checks each delivery with the
 * `pusher` server SDK's `webhook()`, as an application's endpoint would.
 *
 * @module
 */
import { within } from "../_support/ws_client.ts";
import { serverSdk } from "./_clients.ts";

/** One delivery: whether its signature checked out, and its events. */
export interface Delivery {
  valid: boolean;
  events: { name: string; channel: string; [field: string]: unknown }[];
}

/** A receiver that answers `statuses` in turn (then 200) and checks each delivery with the SDK. */
export function receiver(statuses: number[] = []) {
  const deliveries: Delivery[] = [];
  let attempts = 0;
  const waiters: Array<() => void> = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    attempts++;
    const rawBody = await request.text();
    const status = statuses.shift() ?? 200;
    if (status === 200) {
      const headers = Object.fromEntries(request.headers);
      // The SDK checks X-Pusher-Key and X-Pusher-Signature against the app's key and secret.
      const sdk = serverSdk({ host: "127.0.0.1", port: 1 } as Parameters<typeof serverSdk>[0]);
      const hook = sdk.webhook({ headers, rawBody });
      deliveries.push({
        valid: hook.isValid(),
        events: hook.getEvents() as unknown as Delivery["events"],
      });
      for (const wake of waiters.splice(0)) wake();
    }
    return new Response(null, { status });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/pusher/webhooks`,
    deliveries,
    get attempts() {
      return attempts;
    },
    /** Resolves the events delivered once `count` of them arrived. */
    async events(count: number) {
      const all = () => deliveries.flatMap((delivery) => delivery.events);
      await within(
        (async () => {
          while (all().length < count) await new Promise<void>((resolve) => waiters.push(resolve));
        })(),
        8_000,
        () => `${count} webhook events; got ${JSON.stringify(all())}`,
      );
      return all();
    },
    close: () => server.shutdown(),
  };
}
