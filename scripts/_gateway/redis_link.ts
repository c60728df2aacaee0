/**
 * One connection to Redis, on node-redis. node-redis pipelines by itself (every command
 * sent in one turn of the event loop goes out in one write, and replies are matched in
 * order), parses RESP, reads `redis://` URLs (user, password, `/db`) and speaks pub/sub.
 * What the gateway sets and adds:
 *
 * - the type mapping of `redis_reply.ts`, so replies arrive as Redis sent them: strings as
 *   bytes, integers as their digits, errors as values;
 * - no reconnection and no offline queue: a broken connection is closed and its commands
 *   fail at once (a 503), and the pool dials a fresh one for the next request, which runs
 *   the gateway's session again (its narrowed ACL user, see `script_acl.ts`);
 * - no `CLIENT SETINFO`, which Redis before 7.2 does not know;
 * - a hold limit: node-redis buffers a reply whole (a 100 MB GET grew the gateway by 188
 *   MiB), and offers no way to read past one. The gateway counts the bytes that reach
 *   node-redis's decoder since its last complete reply (through its internal
 *   `_getQueue()`, see {@linkcode guardReplySize}); past the limit it stops feeding the
 *   decoder and closes the connection: the command whose reply it was gets an
 *   {@linkcode OversizedReply}, the commands sent behind it on that connection a 503.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "redis";
import {
  type CommandArgs,
  OversizedReply,
  RedisErrorReply,
  RedisUnavailableError,
  type RespValue,
} from "./redis_reply.ts";

const CONNECT_TIMEOUT_MS = 5_000;

/** Replies as Redis sent them (see `redis_reply.ts`). */
const RAW_REPLIES = {
  [RESP_TYPES.BLOB_STRING]: Buffer,
  [RESP_TYPES.SIMPLE_STRING]: Buffer,
  [RESP_TYPES.NUMBER]: String,
} as const;

/** What the gateway uses of a node-redis client (its full type is generic over modules). */
interface Client {
  sendCommand(args: string[]): Promise<unknown>;
  subscribe(
    channel: string,
    listener: (message: Buffer, channel: Buffer) => void,
    buffers: true,
  ): Promise<void>;
  pSubscribe(
    pattern: string,
    listener: (message: Buffer, channel: Buffer) => void,
    buffers: true,
  ): Promise<void>;
  destroy(): void;
  on(event: "error" | "end", listener: (error?: unknown) => void): unknown;
}

/** Which subscription a connection holds. */
export type SubscriptionKind = "subscribe" | "psubscribe";

/** @returns `command` as node-redis takes it: every argument a string */
function redisArgs(command: CommandArgs): string[] {
  const args = new Array<string>(command.length);
  for (let i = 0; i < command.length; i++) {
    const arg = command[i];
    args[i] = typeof arg === "string" ? arg : String(arg);
  }
  return args;
}

/** What `guardReplySize` reaches inside node-redis (internal, checked at every dial). */
interface DecoderInternals {
  _getQueue?: () => {
    decoder: {
      write(chunk: Uint8Array): void;
      onReply: (reply: unknown) => void;
      onErrorReply: (reply: unknown) => void;
      onPush: (reply: unknown) => void;
    };
  };
}

/**
 * Calls `overflow` instead of decoding once more than `limit` bytes arrive for one reply
 * (counted from the chunk in which the last reply completed, so at most one socket read
 * early or late), with the number of replies decoded before it.
 *
 * @throws {Error} when this node-redis has no such internals (a version the gateway was
 *   not tested with)
 */
function guardReplySize(
  client: Client,
  limit: number,
  overflow: (decoded: number) => void,
): void {
  const queue = (client as unknown as DecoderInternals)._getQueue?.();
  const decoder = queue?.decoder;
  if (decoder === undefined || typeof decoder.write !== "function") {
    throw new Error("This node-redis version hides its decoder: the reply size guard needs it");
  }
  let bytes = 0;
  let decoded = 0;
  let dropping = false;
  const write = decoder.write.bind(decoder);
  decoder.write = (chunk) => {
    if (dropping) return;
    bytes += chunk.length;
    if (bytes <= limit) return write(chunk);
    dropping = true;
    overflow(decoded);
  };
  // node-redis swaps these callbacks (pub/sub, resets): wrap whatever is set.
  for (const name of ["onReply", "onErrorReply", "onPush"] as const) {
    let inner = decoder[name];
    const counted = (reply: unknown) => {
      bytes = 0;
      decoded++;
      inner(reply);
    };
    Object.defineProperty(decoder, name, {
      get: () => counted,
      set: (callback) => (inner = callback),
    });
  }
}

/** A failure that is not Redis's error reply: the connection is gone. */
class Lost {
  constructor(readonly error: unknown) {}
}

/** What a command sent behind a dropped reply gets instead of its own. */
const LOST_BEHIND_DROPPED = new RedisErrorReply(
  "ERR the gateway closed its Redis connection to drop an oversized reply before this " +
    "command's reply arrived; the command may have run",
);

const asValue = (error: unknown): RedisErrorReply | OversizedReply | Lost =>
  error instanceof RedisErrorReply || error instanceof OversizedReply ? error : new Lost(error);

/**
 * @param url a `redis://` URL
 * @throws {TypeError} when it is not one, or names a database that is not a number
 */
export function checkRedisUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Invalid Redis URL: ${url}`);
  }
  // node-redis would speak TLS for rediss://, but no test here covers it: refused.
  if (parsed.protocol !== "redis:") {
    throw new TypeError(`Redis URL must start with redis://, got ${url}`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new TypeError(`Invalid Redis database in ${url}`);
}

/** @returns the user and password a `redis://` URL carries, decoded */
export function credentialsOf(url: string): { username: string; password: string } {
  const parsed = new URL(url);
  return {
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

/** @returns `url` pointing at `address` (`host:port`) instead, credentials kept, database 0 */
export function urlAt(url: string, address: string): string {
  const parsed = new URL(url);
  const split = address.lastIndexOf(":");
  const host = address.slice(0, split);
  parsed.host = (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host) +
    address.slice(split);
  parsed.pathname = "";
  return parsed.href;
}

/** An open connection to Redis. Create it with {@linkcode openRedisLink}. */
export class RedisLink {
  readonly #client: Client;
  readonly #label: string;
  #closed = false;
  #inFlight = 0;
  /** Commands sent so far; replies come in the order commands were sent. */
  #sent = 0;
  /** The command whose reply passed the hold limit, by its place in {@linkcode #sent}. */
  #oversized = -1;
  /** Why the gateway closed the connection on purpose, said to the commands it cut off. */
  #closedFor: string | undefined;
  #closeListeners: Array<() => void> = [];
  /** Settles once the connection is closed. */
  readonly done: Promise<void>;
  #ended!: () => void;

  /**
   * @param client a connected client
   * @param label names the endpoint in error messages
   * @param holdLimit replies larger than this are dropped (see {@linkcode guardReplySize})
   */
  constructor(client: Client, label: string, holdLimit = Infinity) {
    this.#client = client;
    if (holdLimit !== Infinity) {
      // Installed once the handshake is answered: the count starts at this link's commands.
      guardReplySize(client, holdLimit, (decoded) => {
        this.#oversized = decoded;
        this.#closedFor = "was closed to drop another command's oversized reply; " +
          "the command may have run";
        console.warn(`redis_http: dropped a reply over ${holdLimit} bytes from ${label}`);
        this.close();
      });
    }
    this.#label = label;
    this.done = new Promise((resolve) => (this.#ended = resolve));
    // Any error of the socket ends the connection for good (no reconnection).
    client.on("error", () => this.close());
    client.on("end", () => this.close());
  }

  /** Whether the connection is closed; a closed connection fails every command. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Number of commands still waiting for replies. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Runs `listener` once when the connection closes for any reason. */
  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#closeListeners.push(listener);
  }

  /**
   * Sends `commands` back to back and hands their replies to `onReply` in order; error
   * replies are values.
   *
   * @throws {RedisUnavailableError} when the connection is or becomes closed
   */
  async run(
    commands: ReadonlyArray<CommandArgs>,
    onReply: (reply: RespValue) => void,
  ): Promise<void> {
    if (commands.length === 1) return onReply(await this.#one(commands[0]));
    // Every command is queued in this turn, so they go out together and nothing of
    // another request comes between them (MULTI … EXEC relies on it).
    const pending = commands.map((command) => this.#send(command).catch(asValue));
    let lost: Lost | undefined;
    let dropped = false;
    for (const reply of pending) {
      const value = await reply;
      if (value instanceof OversizedReply) dropped = true;
      // Behind a dropped reply, the connection was closed on purpose: say so per command.
      if (value instanceof Lost && dropped) onReply(LOST_BEHIND_DROPPED);
      else if (value instanceof Lost) lost ??= value;
      else if (lost === undefined) onReply(value);
    }
    if (lost !== undefined) throw this.#unavailable(lost.error);
  }

  /** Runs `commands` and returns their replies; error replies are values. */
  async commands(commands: ReadonlyArray<CommandArgs>): Promise<RespValue[]> {
    const replies: RespValue[] = [];
    await this.run(commands, (reply) => replies.push(reply));
    return replies;
  }

  async #one(command: CommandArgs): Promise<RespValue> {
    try {
      return await this.#send(command);
    } catch (error) {
      if (error instanceof RedisErrorReply || error instanceof OversizedReply) return error;
      throw this.#unavailable(error);
    }
  }

  async #send(command: CommandArgs): Promise<RespValue> {
    this.#inFlight++;
    const place = this.#sent++;
    try {
      return await this.#client.sendCommand(redisArgs(command)) as RespValue;
    } catch (error) {
      if (place === this.#oversized) throw new OversizedReply();
      throw error;
    } finally {
      this.#inFlight--;
    }
  }

  /**
   * Switches the connection to subscriber mode on `target`; from then on it carries only
   * that subscription's pushes.
   *
   * @param onPush takes each message as a RESP push: `[kind, …names, message]`
   * @returns the confirmation push, `[kind, target, count]`
   * @throws {RedisErrorReply} when Redis refuses the subscription
   * @throws {RedisUnavailableError} when Redis goes away before confirming it
   */
  async subscribe(
    kind: SubscriptionKind,
    target: string,
    onPush: (push: RespValue[]) => void,
  ): Promise<RespValue[]> {
    const encoder = new TextEncoder();
    const bytes = (text: string) => encoder.encode(text);
    // Encoded once: every push of the subscription starts with the same bytes.
    const message = bytes("message");
    const pmessage = bytes("pmessage");
    const pattern = bytes(target);
    try {
      if (kind === "subscribe") {
        await this.#client.subscribe(target, (payload: Buffer, channel: Buffer) => {
          onPush([message, channel, payload]);
        }, true);
      } else {
        await this.#client.pSubscribe(target, (payload: Buffer, channel: Buffer) => {
          onPush([pmessage, pattern, channel, payload]);
        }, true);
      }
    } catch (error) {
      if (error instanceof RedisErrorReply) throw error;
      throw this.#unavailable(error);
    }
    // One subscription per connection: Redis counts it as the first.
    return [bytes(kind), bytes(target), "1"];
  }

  /** Closes the socket at once; commands in flight fail with {@linkcode RedisUnavailableError}. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#client.destroy();
    } catch {
      // already closed by node-redis after a socket error
    }
    this.#ended();
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener();
  }

  #unavailable(cause: unknown): RedisUnavailableError {
    if (cause instanceof RedisUnavailableError) return cause;
    const reason = this.#closedFor ?? (this.#closed ? "was closed" : "was lost");
    this.close();
    return new RedisUnavailableError(`Redis connection to ${this.#label} ${reason}`, { cause });
  }
}

/**
 * Connects, authenticates and selects the database the URL names, then runs `session`.
 * The whole handshake is bounded: a Redis that accepts connections but never answers
 * (stopped with SIGSTOP, or a port something else holds) fails the dial instead of holding
 * every request that waits on it forever.
 *
 * @param url where Redis listens, with its user, password and `/db`
 * @param session commands run after authenticating, each of which must succeed (the
 *   gateway's switch to its narrowed ACL user, see `script_acl.ts`)
 * @param holdLimit replies larger than this are dropped (see {@linkcode guardReplySize})
 * @param handshakeTimeout milliseconds the connection, authentication and `session` may
 *   take together
 * @returns a ready connection
 * @throws {RedisUnavailableError} when Redis cannot be reached, rejects the handshake or
 *   does not answer it in time
 */
export async function openRedisLink(
  url: string,
  session: ReadonlyArray<CommandArgs> = [],
  holdLimit = Infinity,
  handshakeTimeout = CONNECT_TIMEOUT_MS,
): Promise<RedisLink> {
  const { host } = new URL(url);
  const client = createClient({
    url,
    RESP: 2,
    disableClientInfo: true,
    disableOfflineQueue: true,
    socket: { connectTimeout: handshakeTimeout, reconnectStrategy: false },
    commandOptions: { typeMapping: RAW_REPLIES },
  });
  let failure: unknown;
  client.on("error", (error: unknown) => (failure ??= error));
  let timedOut = false;
  let link: RedisLink | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    // Fails connect() or the session's commands, whichever is waiting.
    if (link !== undefined) link.close();
    else destroy(client);
  }, handshakeTimeout);
  const silent = () =>
    new RedisUnavailableError(
      `Redis at ${host} did not answer its handshake within ${handshakeTimeout} ms`,
    );
  try {
    try {
      await client.connect();
    } catch (error) {
      const cause = failure ?? error;
      const reason = cause instanceof Error ? cause.message : String(cause);
      destroy(client);
      if (timedOut) throw silent();
      throw new RedisUnavailableError(
        cause instanceof RedisErrorReply
          ? `Redis at ${host} rejected the handshake: ${reason}`
          : `Redis is unreachable at ${host}: ${reason}`,
        { cause },
      );
    }
    if (timedOut) {
      destroy(client);
      throw silent();
    }
    try {
      link = new RedisLink(client as unknown as Client, host, holdLimit);
    } catch (error) {
      destroy(client);
      throw error;
    }
    if (session.length > 0) {
      let replies: RespValue[];
      try {
        replies = await link.commands(session);
      } catch (error) {
        throw timedOut ? silent() : error;
      }
      const failed = replies.find((r) => r instanceof RedisErrorReply);
      if (failed instanceof RedisErrorReply) {
        link.close();
        throw new RedisUnavailableError(
          `Redis at ${host} rejected the handshake: ${failed.message}`,
        );
      }
    }
    return link;
  } finally {
    clearTimeout(timer);
  }
}

/** Destroys a client that may never have opened, or be closed already. */
function destroy(client: { destroy(): void }): void {
  try {
    client.destroy();
  } catch {
    // never opened, or already closed
  }
}
