/**
 * A Cloudflare Worker that takes resumable uploads (tus 1.0.0, with
 * tus-js-client's `parallelUploads`) straight into R2: `R2Store` on the
 * `BUCKET` binding keeps the bytes, the part list and each upload's record,
 * so any isolate can resume any upload. With `UPSTASH_REDIS_REST_URL` and
 * `UPSTASH_REDIS_REST_TOKEN` set, upload locks are shared through Redis, so
 * two isolates can never write one upload at once.
 *
 * A `scheduled` handler (a Cron Trigger) sweeps expired uploads, aborting
 * their multipart uploads.
 *
 * @module
 */
import { type ExecutionContext, Hono } from "hono";
import { Redis } from "@upstash/redis";
import { RedisUploadState, uploads, type UploadsApp } from "@kiln/core/upload";
import { type R2BucketBinding, R2Store } from "@kiln/core/upload/r2";

/** The Worker's bindings (wrangler.toml). */
export interface Env {
  BUCKET: R2BucketBinding;
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
}

/** One router per isolate, so its requests share the in-isolate locks and buffers. */
let files: UploadsApp | undefined;
let app: Hono | undefined;

function filesFor(env: Env): UploadsApp {
  const { UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: token } = env;
  files ??= uploads({
    store: new R2Store({ bucket: env.BUCKET, prefix: "uploads/" }),
    // Unset: the records live in R2 beside the bytes, locks in this isolate.
    state: url && token
      ? new RedisUploadState({ redis: new Redis({ url, token }), prefix: "worker-uploads" })
      : undefined,
    maxSize: 5 * 1024 ** 3,
    expiresIn: 24 * 60 * 60 * 1000,
  });
  return files;
}

export default {
  fetch(request: Request, env: Env, context: ExecutionContext): Response | Promise<Response> {
    app ??= new Hono().route("/files", filesFor(env));
    return app.fetch(request, env, context);
  },
  /** A Cron Trigger: removes expired uploads, aborting their multipart uploads. */
  async scheduled(_event: unknown, env: Env): Promise<void> {
    await filesFor(env).cleanupExpired();
  },
};
