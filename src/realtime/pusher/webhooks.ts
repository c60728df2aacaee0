/**
 * Pusher webhooks: what happened on the hub, batched, signed with the app's
 * secret and delivered by a Kiln queue job, so a receiver that is down gets
 * the batch again with back-off, and a batch that never lands is kept in the
 * queue's failed store.
 *
 * @module
 */
import * as v from "valibot";
import { defineJob, type JobDefinition } from "../../queue/job.ts";

/** The events a webhook can ask for, as Pusher names them. */
export type PusherWebhookEvent =
  | "channel_occupied"
  | "channel_vacated"
  | "member_added"
  | "member_removed"
  | "client_event";

/** Where one app's webhooks go. */
export interface PusherWebhook {
  /** The receiver's URL (`https://…` in production). */
  readonly url: string;
  /** The events it wants. @default every event */
  readonly events?: readonly PusherWebhookEvent[];
}

/** One batch as the queue job carries it: already signed, so no secret is stored with the job. */
export interface PusherWebhookDelivery {
  /** The receiver. */
  url: string;
  /** The app's key, sent as `X-Pusher-Key`. */
  key: string;
  /** The hex HMAC-SHA256 of `body` under the app's secret, sent as `X-Pusher-Signature`. */
  signature: string;
  /** `{ time_ms, events }` as JSON text. */
  body: string;
}

const WebhookPayload: v.GenericSchema<unknown, PusherWebhookDelivery> = v.object({
  url: v.pipe(v.string(), v.url()),
  key: v.string(),
  signature: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  body: v.string(),
});

/**
 * The queue job that delivers one batch: `POST` of `{ time_ms, events }` with
 * `X-Pusher-Key` and `X-Pusher-Signature` (the hex HMAC-SHA256 of the body
 * under the app's secret), as the `pusher` SDKs' `webhook()` checks it. Any
 * answer but 2xx, or no answer within 10 s, fails the attempt: it is retried
 * five times with exponential back-off (1 s to 60 s), then dead-lettered.
 * Give it to the workers of the queue passed as `webhooks.queue`.
 *
 * @example Running webhook deliveries in a worker
 * ```ts
 * import { MemoryBackend, Queue, Worker } from "@kiln/core/queue";
 * import { pusherWebhook } from "@kiln/core/realtime/pusher";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const worker = new Worker(queue, { jobs: [pusherWebhook] });
 * assert.equal(pusherWebhook.maxRetries, 5);
 * await worker.stop();
 * ```
 */
export const pusherWebhook: JobDefinition<
  v.GenericSchema<unknown, PusherWebhookDelivery>,
  void
> = defineJob({
  name: "kiln.pusher.webhook",
  schema: WebhookPayload,
  maxRetries: 5,
  timeout: 10_000,
  backoff: { type: "exponential", delay: 1_000, max: 60_000, jitter: "equal" },
  async handle(payload, ctx) {
    const response = await fetch(payload.url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-Pusher-Key": payload.key,
        "X-Pusher-Signature": payload.signature,
      },
      body: payload.body,
      signal: ctx.signal,
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`The webhook receiver answered ${response.status}`);
  },
});
