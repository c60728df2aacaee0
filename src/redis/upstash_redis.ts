/**
 * The {@linkcode RedisLike} adapter for Redis over HTTP (the Upstash REST protocol).
 *
 * It reads the endpoint and token from the `@upstash/redis` `Redis` instance the
 * user already has, then speaks the protocol itself. Going below the SDK's
 * command methods is deliberate: the SDK may JSON-decode replies
 * (`automaticDeserialization`), which would turn a stored `"1.0"` into `1`,
 * and it hides the HTTP status that tells an outage from a command error. The
 * SDK has no public accessor for the endpoint, so the read is isolated, and
 * explained, in `_upstash_endpoint.ts`.
 *
 * @module
 */
import { RedisError } from "../errors.ts";
import { type Clock, systemClock } from "../clock.ts";
import { backoff, type BackoffShape } from "../_backoff.ts";
import type {
  PipelineResult,
  RedisArg,
  RedisCommand,
  RedisLike,
  RedisReply,
  RedisSubscription,
  SetOptions,
  SubscribeHandlers,
} from "./redis_like.ts";
import { errorCodeForStatus } from "./_http_status.ts";
import { readUpstashEndpoint } from "./_upstash_endpoint.ts";
import { openSubscription } from "./_sse_subscription.ts";
import { MAX_GATHER_MS } from "./_gather.ts";

/** Where and how to reach a Redis REST endpoint. */
export interface UpstashRedisOptions {
  /** The REST endpoint, such as `https://eu1-xyz.upstash.io` or a local gateway. */
  url: string;
  /** The bearer token for the endpoint. */
  token: string;
  /**
   * How many times a request that failed at the network level is retried.
   * Kiln's scripts are idempotent under replay, so retrying is safe.
   * @default 2
   */
  retries?: number;
  /** The `fetch` to use (for tests or custom agents). @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Times the waits between retries (growing from 50 ms by 3× with "equal"
   * jitter, so clients that lost the endpoint together do not come back
   * together) and a subscribe's open timeout.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * A source of numbers in [0, 1) for the retry jitter (inject it in tests).
   * @default Math.random
   */
  random?: () => number;
}

/** The waits between retries of a request that got no reply. */
const RETRY_BACKOFF: BackoffShape = { initial: 50, factor: 3, jitter: "equal" };

/**
 * Talks to Redis over HTTP with the Upstash REST protocol: Upstash itself, or
 * Kiln's gateway (`deno task redis:http`) in front of any `redis-server`.
 *
 * @example Wrapping an `@upstash/redis` client
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { UpstashRedis } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set (`deno task test` sets
 * // them); without them fromEnv() warns, and fromClient() refuses the client (TypeError).
 * const redis = UpstashRedis.fromClient(Redis.fromEnv());
 * await redis.set("greeting", "1.0", { px: 60_000 });
 * assert.equal(await redis.get("greeting"), "1.0"); // a string, as stored: no deserialization
 * ```
 */
export class UpstashRedis implements RedisLike {
  #url: string;
  #authorization: string;
  #retries: number;
  #fetch: typeof fetch;
  #clock: Clock;
  #random: () => number;

  /**
   * Creates an adapter for a REST endpoint.
   *
   * @param options The endpoint, its token and retry settings.
   * @throws {TypeError} When the URL or token is missing or malformed.
   */
  constructor(options: UpstashRedisOptions) {
    if (typeof options?.url !== "string" || !/^https?:\/\/[^\s]+$/.test(options.url)) {
      throw new TypeError(`Redis REST url must be an http(s) URL, got ${String(options?.url)}`);
    }
    if (typeof options.token !== "string" || options.token.length === 0) {
      throw new TypeError("Redis REST token must be a non-empty string");
    }
    const retries = options.retries ?? 2;
    if (!Number.isInteger(retries) || retries < 0) {
      throw new RangeError(`retries must be a non-negative integer, got ${retries}`);
    }
    this.#url = options.url.replace(/\/+$/, "");
    this.#authorization = `Bearer ${options.token}`;
    this.#retries = retries;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Creates an adapter from an `@upstash/redis` `Redis` instance, reusing its
   * endpoint and token. Only those two are taken: the SDK's own retries,
   * deserialization and response encoding do not apply to Kiln's requests.
   *
   * @param client An `@upstash/redis` `Redis` (any platform entry) built from a
   * url and token.
   * @param options Retry and fetch settings.
   * @returns The adapter.
   * @throws {TypeError} When `client` is not an `@upstash/redis` instance, was
   * built on a custom requester, or has no url or token (`Redis.fromEnv()` with
   * its variables unset).
   */
  static fromClient(
    client: object,
    options: Omit<UpstashRedisOptions, "url" | "token"> = {},
  ): UpstashRedis {
    return new UpstashRedis({ ...options, ...readUpstashEndpoint(client) });
  }

  /** {@inheritDoc RedisLike.eval} */
  eval(script: string, keys: readonly string[], args: readonly RedisArg[]): Promise<RedisReply> {
    return this.#command(["EVAL", script, keys.length, ...keys, ...args]);
  }

  /** {@inheritDoc RedisLike.evalsha} */
  evalsha(sha1: string, keys: readonly string[], args: readonly RedisArg[]): Promise<RedisReply> {
    return this.#command(["EVALSHA", sha1, keys.length, ...keys, ...args]);
  }

  /** {@inheritDoc RedisLike.get} */
  async get(key: string): Promise<string | null> {
    const reply = await this.#command(["GET", key]);
    if (reply !== null && typeof reply !== "string") throw unexpected("GET", reply);
    return reply;
  }

  /** {@inheritDoc RedisLike.set} */
  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const command: [string, ...RedisArg[]] = ["SET", key, value];
    if (options.px !== undefined) command.push("PX", options.px);
    if (options.nx) command.push("NX");
    return (await this.#command(command)) === "OK";
  }

  /** {@inheritDoc RedisLike.del} */
  async del(...keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const reply = await this.#command(["DEL", ...keys]);
    if (typeof reply !== "number") throw unexpected("DEL", reply);
    return reply;
  }

  /** {@inheritDoc RedisLike.publish} */
  async publish(channel: string, message: string): Promise<number> {
    const reply = await this.#command(["PUBLISH", channel, message]);
    if (typeof reply !== "number") throw unexpected("PUBLISH", reply);
    return reply;
  }

  /** {@inheritDoc RedisLike.subscribe} */
  subscribe(channel: string, handlers: SubscribeHandlers): Promise<RedisSubscription> {
    const { gatherMs } = handlers;
    if (
      gatherMs !== undefined &&
      !(Number.isInteger(gatherMs) && gatherMs >= 0 && gatherMs <= MAX_GATHER_MS)
    ) {
      return Promise.reject(
        new RangeError(
          `gatherMs must be a whole number from 0 to ${MAX_GATHER_MS}, got ${gatherMs}`,
        ),
      );
    }
    return openSubscription({
      url: `${this.#url}/subscribe/${encodeURIComponent(channel)}`,
      authorization: this.#authorization,
      fetch: this.#fetch,
      clock: this.#clock,
      channel,
      handlers,
    });
  }

  /** {@inheritDoc RedisLike.pipeline} */
  async pipeline(commands: readonly RedisCommand[]): Promise<PipelineResult[]> {
    if (commands.length === 0) return [];
    const body = await this.#post("/pipeline", commands);
    if (!Array.isArray(body) || body.length !== commands.length) {
      throw unexpected("pipeline", body as RedisReply);
    }
    return body.map((entry: { result?: RedisReply; error?: string }) =>
      typeof entry?.error === "string"
        ? { ok: false, error: entry.error }
        : { ok: true, reply: entry?.result ?? null }
    );
  }

  async #command(command: RedisCommand): Promise<RedisReply> {
    const body = await this.#post("", command) as { result?: RedisReply; error?: string };
    if (typeof body?.error === "string") {
      throw new RedisError("REDIS_COMMAND_FAILED", body.error);
    }
    return body?.result ?? null;
  }

  /** POSTs JSON, retrying only failures where no reply arrived at all. */
  async #post(path: string, payload: unknown): Promise<unknown> {
    const init: RequestInit = {
      method: "POST",
      headers: { authorization: this.#authorization, "content-type": "application/json" },
      body: JSON.stringify(payload),
    };
    for (let attempt = 0;; attempt++) {
      let response: Response;
      try {
        response = await this.#fetch(this.#url + path, init);
      } catch (error) {
        if (attempt < this.#retries) {
          const wait = backoff(RETRY_BACKOFF, attempt, this.#random);
          await new Promise((resolve) => this.#clock.setTimeout(() => resolve(undefined), wait));
          continue;
        }
        throw new RedisError("REDIS_UNAVAILABLE", `Redis REST endpoint is unreachable`, {
          cause: error,
        });
      }
      const text = await response.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        throw new RedisError(
          // A refusal from a proxy in front (an HTML 429 or 503) means what its status means.
          response.ok ? "REDIS_UNEXPECTED_REPLY" : errorCodeForStatus(response.status),
          `Redis REST endpoint answered ${response.status} with a body that is not JSON`,
          { cause: error },
        );
      }
      if (response.ok) return body;
      const message = (body as { error?: unknown })?.error;
      const detail = typeof message === "string" ? message : `HTTP ${response.status}`;
      const code = errorCodeForStatus(response.status);
      throw new RedisError(
        code,
        code === "REDIS_UNAUTHORIZED" ? `Redis REST endpoint refused the token: ${detail}` : detail,
      );
    }
  }
}

function unexpected(command: string, reply: RedisReply): RedisError {
  return new RedisError(
    "REDIS_UNEXPECTED_REPLY",
    `Unexpected reply to ${command}: ${JSON.stringify(reply)?.slice(0, 200)}`,
  );
}
