/**
 * Owns every connection the gateway holds to Redis. Plain commands and pipelines share a
 * few long-lived pipelined connections (Redis runs one connection's commands in order,
 * so multiplexing costs nothing and saves sockets). Transactions borrow a dedicated
 * connection; subscriptions get their own, closed when the subscriber leaves. A broken
 * connection is dropped and the next request dials again, so the gateway recovers by
 * itself when Redis comes back.
 *
 * @module
 */

import { openRedisConnection, type RedisConnection } from "./redis_connection.ts";
import type { CommandArgs } from "./resp_encoder.ts";
import { RedisErrorReply } from "./resp_parser.ts";
import type { RedisEndpoint } from "./redis_url.ts";

const MAX_IDLE_DEDICATED = 4;

/** Hands out connections to one Redis endpoint and closes them all on {@linkcode close}. */
export class RedisPool {
  readonly #endpoint: RedisEndpoint;
  readonly #maxReplyBytes: number;
  readonly #shared: Array<RedisConnection | undefined>;
  readonly #connecting: Array<Promise<RedisConnection> | undefined>;
  #next = 0;
  #idle: RedisConnection[] = [];
  #all = new Set<RedisConnection>();
  #closed = false;
  #session: ReadonlyArray<CommandArgs> = [];

  /**
   * @param endpoint where Redis listens
   * @param sharedConnections how many multiplexed connections carry plain commands
   * @param maxReplyBytes replies larger than this arrive as `OversizedReply`, unheld
   */
  constructor(endpoint: RedisEndpoint, sharedConnections = 1, maxReplyBytes = Infinity) {
    this.#endpoint = endpoint;
    this.#maxReplyBytes = maxReplyBytes;
    this.#shared = new Array(sharedConnections);
    this.#connecting = new Array(sharedConnections);
  }

  /**
   * Returns an open shared connection, dialing if needed.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached
   */
  shared(): RedisConnection | Promise<RedisConnection> {
    const slot = this.#next;
    this.#next = (slot + 1) % this.#shared.length;
    const current = this.#shared[slot];
    if (current !== undefined && !current.closed) return current;
    let connecting = this.#connecting[slot];
    if (connecting === undefined) {
      connecting = this.#dial().then(
        (connection) => {
          this.#connecting[slot] = undefined;
          this.#shared[slot] = connection;
          return connection;
        },
        (error) => {
          this.#connecting[slot] = undefined;
          throw error;
        },
      );
      this.#connecting[slot] = connecting;
    }
    return connecting;
  }

  /**
   * {@linkcode shared}, always as a promise.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached
   */
  async sharedReady(): Promise<RedisConnection> {
    return await this.shared();
  }

  /**
   * Borrows a connection nobody else writes to, for MULTI/EXEC.
   * Give it back with {@linkcode release}.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached
   */
  async acquire(): Promise<RedisConnection> {
    while (this.#idle.length > 0) {
      const connection = this.#idle.pop()!;
      if (!connection.closed) return connection;
    }
    return await this.#dial();
  }

  /** Returns a borrowed connection; it is kept for reuse only if it is clean. */
  release(connection: RedisConnection): void {
    if (
      this.#closed || connection.closed || connection.inFlight > 0 ||
      this.#idle.length >= MAX_IDLE_DEDICATED
    ) {
      connection.close();
    } else {
      this.#idle.push(connection);
    }
  }

  /**
   * Opens a fresh connection owned by the caller (subscriptions); the pool still closes
   * it on shutdown.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached
   */
  async dedicated(): Promise<RedisConnection> {
    return await this.#dial();
  }

  /**
   * Tries `session` on a connection of its own, and when every command of it succeeds,
   * runs it on every connection from now on ({@linkcode startSessionsWith}).
   *
   * @param session commands each new connection must run successfully
   * @returns Redis's error when `session` fails (nothing changes then)
   * @throws {RedisUnavailableError} when Redis cannot be reached
   */
  async narrow(session: ReadonlyArray<CommandArgs>): Promise<string | undefined> {
    const probe = await this.#dial();
    try {
      const failed = (await probe.commands(session)).find((r) => r instanceof RedisErrorReply);
      if (failed instanceof RedisErrorReply) return failed.message;
    } finally {
      probe.close();
    }
    this.startSessionsWith(session);
    return undefined;
  }

  /**
   * Runs `session` on every connection dialed from now on (after authenticating), and
   * closes the idle and shared ones dialed before, so the next request dials with it.
   * Call it before any request's command is sent: an in-flight command would be lost.
   *
   * @param session commands each new connection must run successfully
   */
  startSessionsWith(session: ReadonlyArray<CommandArgs>): void {
    this.#session = session;
    for (const connection of [...this.#shared, ...this.#idle]) connection?.close();
    this.#shared.fill(undefined);
    this.#idle = [];
  }

  /** Closes every connection and waits for their read loops to end. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#connecting.filter((c) => c !== undefined));
    const all = [...this.#all];
    for (const connection of all) connection.close();
    await Promise.all(all.map((c) => c.done));
  }

  async #dial(): Promise<RedisConnection> {
    const connection = await openRedisConnection(
      this.#endpoint,
      this.#maxReplyBytes,
      this.#session,
    );
    if (this.#closed) {
      connection.close();
      await connection.done;
      throw new Error("The gateway is shutting down");
    }
    this.#all.add(connection);
    connection.onClose(() => this.#all.delete(connection));
    return connection;
  }
}
