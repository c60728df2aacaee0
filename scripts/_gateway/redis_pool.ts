/**
 * Owns every connection the gateway holds to one Redis endpoint. Plain commands and
 * pipelines share a few long-lived connections (node-redis pipelines them, and Redis
 * runs one connection's commands in order, so sharing costs nothing and saves sockets).
 * Transactions borrow a connection nobody else writes to; subscriptions get their own,
 * closed when the subscriber leaves. A broken connection is dropped and the next request
 * dials again, so the gateway recovers by itself when Redis comes back.
 *
 * @module
 */

import { openRedisLink, type RedisLink } from "./redis_link.ts";
import { type CommandArgs, RedisErrorReply } from "./redis_reply.ts";

const MAX_IDLE_DEDICATED = 4;

/** Hands out connections to one Redis endpoint and closes them all on {@linkcode close}. */
export class RedisPool {
  readonly #url: string;
  readonly #holdLimit: number;
  readonly #shared: Array<RedisLink | undefined>;
  readonly #connecting: Array<Promise<RedisLink> | undefined>;
  #next = 0;
  #idle: RedisLink[] = [];
  #all = new Set<RedisLink>();
  #closed = false;
  #session: ReadonlyArray<CommandArgs> = [];

  /**
   * @param url where Redis listens (`redis://`, user, password, `/db`)
   * @param sharedConnections how many connections carry plain commands
   * @param holdLimit replies larger than this are dropped (`OversizedReply`)
   */
  constructor(url: string, sharedConnections = 1, holdLimit = Infinity) {
    this.#url = url;
    this.#holdLimit = holdLimit;
    this.#shared = new Array(sharedConnections);
    this.#connecting = new Array(sharedConnections);
  }

  /**
   * Returns an open shared connection, dialing if needed.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached
   */
  shared(): RedisLink | Promise<RedisLink> {
    const slot = this.#next;
    this.#next = (slot + 1) % this.#shared.length;
    const current = this.#shared[slot];
    if (current !== undefined && !current.closed) return current;
    let connecting = this.#connecting[slot];
    if (connecting === undefined) {
      connecting = this.#dial().then(
        (link) => {
          this.#connecting[slot] = undefined;
          this.#shared[slot] = link;
          return link;
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
  async sharedReady(): Promise<RedisLink> {
    return await this.shared();
  }

  /**
   * Borrows a connection nobody else writes to, for MULTI/EXEC.
   * Give it back with {@linkcode release}.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached
   */
  async acquire(): Promise<RedisLink> {
    while (this.#idle.length > 0) {
      const link = this.#idle.pop()!;
      if (!link.closed) return link;
    }
    return await this.#dial();
  }

  /** Returns a borrowed connection; it is kept for reuse only if it is clean. */
  release(link: RedisLink): void {
    if (
      this.#closed || link.closed || link.inFlight > 0 ||
      this.#idle.length >= MAX_IDLE_DEDICATED
    ) {
      link.close();
    } else {
      this.#idle.push(link);
    }
  }

  /**
   * Opens a fresh connection owned by the caller (subscriptions); the pool still closes
   * it on shutdown.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached
   */
  async dedicated(): Promise<RedisLink> {
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
    for (const link of [...this.#shared, ...this.#idle]) link?.close();
    this.#shared.fill(undefined);
    this.#idle = [];
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#connecting.filter((c) => c !== undefined));
    const all = [...this.#all];
    for (const link of all) link.close();
    await Promise.all(all.map((link) => link.done));
  }

  async #dial(): Promise<RedisLink> {
    const link = await openRedisLink(this.#url, this.#session, this.#holdLimit);
    if (this.#closed) {
      link.close();
      throw new Error("The gateway is shutting down");
    }
    this.#all.add(link);
    link.onClose(() => this.#all.delete(link));
    return link;
  }
}
