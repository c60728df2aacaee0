/**
 * One TCP connection to Redis that pipelines: callers append commands and await their
 * replies while earlier ones are still in flight, and everything queued while a write is
 * under way goes out in the next single write. Replies are matched to callers in FIFO
 * order, which RESP guarantees. A connection in subscriber mode hands every reply to a
 * push handler instead.
 *
 * @module
 */

import { type CommandArgs, encodeCommands } from "./resp_encoder.ts";
import { RedisErrorReply, RespParser, type RespValue } from "./resp_parser.ts";
import type { RedisEndpoint } from "./redis_url.ts";

/** Redis could not be reached, or the connection broke before a reply arrived. */
export class RedisUnavailableError extends Error {
  /**
   * @param message what went wrong
   * @param options the underlying cause
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisUnavailableError";
  }
}

interface PendingBatch {
  remaining: number;
  replies: RespValue[];
  /** Takes each reply as it arrives instead of `replies` collecting them. */
  onReply: ((reply: RespValue) => void) | undefined;
  resolve(replies: RespValue[]): void;
  reject(error: Error): void;
}

const CONNECT_TIMEOUT_MS = 5_000;

/** A pipelined RESP2 connection. Create it with {@linkcode openRedisConnection}. */
export class RedisConnection {
  readonly #conn: Deno.TcpConn;
  readonly #parser: RespParser;
  readonly #label: string;
  #pending: PendingBatch[] = [];
  #head = 0;
  #outbox: Uint8Array[] = [];
  #writing = false;
  #closed = false;
  #onPush: ((reply: RespValue) => void) | undefined;
  #closeListeners: Array<() => void> = [];
  /** Settles when the read loop has ended and the socket is closed. */
  readonly done: Promise<void>;

  /**
   * @param conn a connected socket
   * @param label names the endpoint in error messages
   * @param maxReplyBytes replies larger than this arrive as `OversizedReply`, unheld
   */
  constructor(conn: Deno.TcpConn, label: string, maxReplyBytes = Infinity) {
    this.#conn = conn;
    this.#parser = new RespParser(maxReplyBytes);
    this.#label = label;
    this.#nextTurn.port1.onmessage = this.#flushNow;
    this.done = this.#readLoop();
  }

  /** Whether the socket is closed; a closed connection rejects every command. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Number of batches still waiting for replies. */
  get inFlight(): number {
    return this.#pending.length - this.#head;
  }

  /** Runs `listener` once when the connection closes for any reason. */
  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#closeListeners.push(listener);
  }

  /**
   * Switches the connection to subscriber mode: every reply goes to `handler`.
   *
   * @param handler receives each pushed reply in order
   */
  setPushHandler(handler: (reply: RespValue) => void): void {
    this.#onPush = handler;
  }

  /**
   * Sends pre-encoded commands and resolves with their `count` replies in order.
   *
   * @param payload RESP2 bytes holding exactly `count` commands
   * @param count how many replies to wait for
   * @param onReply when given, takes each reply as soon as it is parsed (so a large batch
   *   is never held whole) and the promise resolves with an empty array
   * @throws {RedisUnavailableError} when the connection is or becomes closed
   */
  send(
    payload: Uint8Array,
    count: number,
    onReply?: (reply: RespValue) => void,
  ): Promise<RespValue[]> {
    if (this.#closed) {
      return Promise.reject(
        new RedisUnavailableError(`Redis connection to ${this.#label} is closed`),
      );
    }
    return new Promise((resolve, reject) => {
      const replies = onReply === undefined ? new Array(count) : [];
      this.#pending.push({ remaining: count, replies, onReply, resolve, reject });
      this.#write(payload);
    });
  }

  /** Sends commands without waiting for replies; for subscriber mode. */
  sendWithoutReply(commands: ReadonlyArray<CommandArgs>): void {
    if (!this.#closed) this.#write(encodeCommands(commands));
  }

  /** Runs commands and returns their replies; error replies are values, not throws. */
  commands(commands: ReadonlyArray<CommandArgs>): Promise<RespValue[]> {
    return this.send(encodeCommands(commands), commands.length);
  }

  /** Closes the socket; pending callers get {@linkcode RedisUnavailableError}. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#nextTurn.port1.close();
    this.#nextTurn.port2.close();
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
  }

  #write(payload: Uint8Array): void {
    this.#outbox.push(payload);
    if (!this.#writing) {
      // An idle connection writes at once (lowest latency). A busy one waits for the
      // event loop's next turn, so commands from every request that arrived in this turn
      // share one write syscall (and one read on the Redis side): under load, socket
      // writes, not JSON or parsing, dominate the gateway's CPU time.
      this.#writing = true;
      if (this.#head === this.#pending.length - 1) queueMicrotask(this.#flushNow);
      else this.#nextTurn.port2.postMessage(null);
    }
  }

  readonly #flushNow = () => void this.#flush();
  /** A macrotask hop without timer clamping (setTimeout(0) costs about 2 ms in Deno). */
  readonly #nextTurn = new MessageChannel();

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#outbox.length > 0 && !this.#closed) {
        const chunks = this.#outbox;
        this.#outbox = [];
        let data: Uint8Array;
        if (chunks.length === 1) {
          data = chunks[0];
        } else {
          let size = 0;
          for (const c of chunks) size += c.length;
          data = new Uint8Array(size);
          let offset = 0;
          for (const c of chunks) {
            data.set(c, offset);
            offset += c.length;
          }
        }
        let written = 0;
        while (written < data.length) {
          written += await this.#conn.write(written === 0 ? data : data.subarray(written));
        }
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(): Promise<void> {
    let cause: unknown;
    try {
      while (true) {
        const n = await this.#conn.read(this.#parser.writable());
        if (n === null) break;
        this.#parser.commit(n);
        let reply: RespValue | undefined;
        while ((reply = this.#parser.next()) !== undefined) this.#deliver(reply);
      }
    } catch (error) {
      cause = error;
    }
    this.#fail(cause);
  }

  #deliver(reply: RespValue): void {
    if (this.#head === this.#pending.length) {
      this.#onPush?.(reply);
      return;
    }
    const batch = this.#pending[this.#head];
    if (batch.onReply === undefined) batch.replies[batch.replies.length - batch.remaining] = reply;
    else batch.onReply(reply);
    if (--batch.remaining === 0) {
      this.#pending[this.#head++] = undefined as unknown as PendingBatch;
      if (this.#head === this.#pending.length) {
        this.#pending = [];
        this.#head = 0;
      } else if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
        this.#pending = this.#pending.slice(this.#head);
        this.#head = 0;
      }
      batch.resolve(batch.replies);
    }
  }

  #fail(cause: unknown): void {
    const wasClosed = this.#closed;
    this.close();
    const pending = this.#pending;
    const head = this.#head;
    this.#pending = [];
    this.#head = 0;
    if (pending.length > head) {
      const reason = wasClosed ? "was closed" : "was lost";
      const error = new RedisUnavailableError(`Redis connection to ${this.#label} ${reason}`, {
        cause,
      });
      for (let i = head; i < pending.length; i++) pending[i].reject(error);
    }
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener();
  }
}

/**
 * Connects, authenticates and selects the database.
 *
 * @param endpoint where Redis listens
 * @param maxReplyBytes replies larger than this arrive as `OversizedReply`, unheld
 * @param session commands run after authenticating, each of which must succeed (the
 *   gateway's switch to its narrowed ACL user, see `script_acl.ts`)
 * @returns a ready connection
 * @throws {RedisUnavailableError} when Redis cannot be reached or rejects the handshake
 */
export async function openRedisConnection(
  endpoint: RedisEndpoint,
  maxReplyBytes = Infinity,
  session: ReadonlyArray<CommandArgs> = [],
): Promise<RedisConnection> {
  const label = `${endpoint.hostname}:${endpoint.port}`;
  let conn: Deno.TcpConn;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const connecting = Deno.connect({ hostname: endpoint.hostname, port: endpoint.port });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("connect timed out")), CONNECT_TIMEOUT_MS);
    });
    conn = await Promise.race([connecting, timeout]).catch((error) => {
      connecting.then((late) => late.close(), () => {});
      throw error;
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new RedisUnavailableError(`Redis is unreachable at ${label}: ${reason}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
  conn.setNoDelay(true);
  const connection = new RedisConnection(conn, label, maxReplyBytes);
  const handshake: CommandArgs[] = [];
  if (endpoint.password !== undefined) {
    handshake.push(
      endpoint.username !== undefined
        ? ["AUTH", endpoint.username, endpoint.password]
        : ["AUTH", endpoint.password],
    );
  }
  if (endpoint.db !== 0) handshake.push(["SELECT", endpoint.db]);
  handshake.push(...session);
  if (handshake.length > 0) {
    const replies = await connection.commands(handshake);
    const failed = replies.find((r) => r instanceof RedisErrorReply);
    if (failed instanceof RedisErrorReply) {
      connection.close();
      await connection.done;
      throw new RedisUnavailableError(
        `Redis at ${label} rejected the handshake: ${failed.message}`,
      );
    }
  }
  return connection;
}
