/**
 * The port between Kiln and Redis: only the commands Kiln actually sends.
 *
 * Keeping the surface this small is what lets one adapter speak the Upstash
 * REST protocol and another speak TCP later, each checked by the same
 * conformance tests.
 *
 * @module
 */

/** One argument of a Redis command. Numbers are sent in their decimal form. */
export type RedisArg = string | number;

/** A command as Redis receives it: the name first, then its arguments. */
export type RedisCommand = readonly [string, ...RedisArg[]];

/** A raw Redis reply: bulk and status strings, integers, nil, or arrays of these. */
export type RedisReply = string | number | null | RedisReply[];

/** The outcome of one command inside a pipeline: its reply, or the error Redis gave. */
export type PipelineResult =
  | { readonly ok: true; readonly reply: RedisReply }
  | { readonly ok: false; readonly error: string };

/** Options for {@linkcode RedisLike.set}. */
export interface SetOptions {
  /** Expire the key after this many milliseconds. */
  px?: number;
  /** Only set the key if it does not exist yet. */
  nx?: boolean;
}

/** A live subscription; `close()` releases it on the server. */
export interface RedisSubscription {
  /** Stops delivery and releases the server-side subscription. */
  close(): Promise<void>;
  /** Settles when the subscription ends, whether closed or lost. */
  readonly closed: Promise<void>;
}

/** Callbacks for {@linkcode RedisLike.subscribe}. */
export interface SubscribeHandlers {
  /** Called with every message published on the channel, in order. */
  onMessage(message: string, channel: string): void;
  /** Called once when the server has confirmed the subscription. */
  onReady?(): void;
  /** Called when the connection is lost; the subscription is then closed. */
  onError?(error: Error): void;
  /**
   * A hint for a busy channel whose reader can wait: once messages are flowing, the
   * server may hold those that follow a delivery for up to this many milliseconds and
   * deliver them together; the first after a quiet spell is never held. Each delivery
   * wakes the reader, which costs it far more than the bytes: a queue's live view hears a
   * message per script call, hundreds a second. Kiln's gateway honours it (a whole
   * number up to 1,000); Upstash delivers each message at once. Leave it out where every
   * message is wanted at once (realtime fan-out).
   */
  gatherMs?: number;
}

/**
 * The Redis commands Kiln uses. Every method rejects with a
 * {@linkcode import("../errors.ts").RedisError} when Redis is unreachable
 * (`REDIS_UNAVAILABLE`) or answers with an error (`REDIS_COMMAND_FAILED`).
 */
export interface RedisLike {
  /** Runs a Lua script by its text (and caches it on the server). */
  eval(script: string, keys: readonly string[], args: readonly RedisArg[]): Promise<RedisReply>;
  /** Runs a cached Lua script by its SHA-1; fails with `NOSCRIPT` when it is not cached. */
  evalsha(sha1: string, keys: readonly string[], args: readonly RedisArg[]): Promise<RedisReply>;
  /** Reads a string value, or `null` when the key does not exist. */
  get(key: string): Promise<string | null>;
  /** Writes a string value; resolves `false` when `nx` prevented the write. */
  set(key: string, value: string, options?: SetOptions): Promise<boolean>;
  /** Deletes keys and resolves how many existed. */
  del(...keys: string[]): Promise<number>;
  /** Publishes a message and resolves how many subscribers received it. */
  publish(channel: string, message: string): Promise<number>;
  /** Subscribes to one channel until the returned subscription is closed. */
  subscribe(channel: string, handlers: SubscribeHandlers): Promise<RedisSubscription>;
  /** Sends several commands in one round trip; each gets its own result, in order. */
  pipeline(commands: readonly RedisCommand[]): Promise<PipelineResult[]>;
}
