/**
 * What the gateway's HTTP side needs from Redis, whether one server
 * ({@linkcode SingleRedis}) or a Redis Cluster (`cluster_redis.ts`): run commands in order,
 * run a transaction, open a subscriber connection, describe the command table.
 *
 * @module
 */

import type { RedisLink } from "./redis_link.ts";
import { RedisPool } from "./redis_pool.ts";
import type { CommandArgs, RespValue } from "./redis_reply.ts";
import { narrowedSession } from "./script_acl.ts";

/** The Redis behind the gateway. */
export interface RedisBackend {
  /**
   * Runs `commands` and hands their replies to `onReply` in the commands' order.
   *
   * @throws {import("./redis_reply.ts").RedisUnavailableError} when Redis cannot be
   *   reached or the connection breaks
   */
  run(commands: ReadonlyArray<CommandArgs>, onReply: (reply: RespValue) => void): Promise<void>;
  /**
   * Runs `commands` between MULTI and EXEC on a connection nobody else writes to.
   *
   * @returns every reply: MULTI's, one per queued command, then EXEC's
   */
  transaction(commands: ReadonlyArray<CommandArgs>): Promise<RespValue[]>;
  /**
   * A fresh connection the caller owns (and closes), for one subscription.
   *
   * @param channel the channel it will SUBSCRIBE to, if any (a cluster picks the master
   *   PUBLISH to it goes through)
   */
  subscriber(channel?: string): Promise<RedisLink>;
  /** Redis's replies to `COMMAND` and `COMMAND DOCS`, read once the gateway needs them. */
  describe(): Promise<[RespValue, RespValue]>;
  /**
   * Makes every later connection run as an ACL user denied `denied`, so scripts cannot
   * call what the policy refuses (see `script_acl.ts`). Call it before any request runs.
   *
   * @param denied command names and `NAME|SUB` subcommands the policy refuses
   * @returns why scripts could not be narrowed, or `undefined` once they are
   */
  narrowScripts(denied: ReadonlyArray<string>): Promise<string | undefined>;
  /** Closes every connection. */
  close(): Promise<void>;
}

/**
 * One redis-server: plain commands and pipelines share a few connections,
 * transactions borrow one, subscriptions get their own.
 */
export class SingleRedis implements RedisBackend {
  readonly #pool: RedisPool;
  readonly #url: string;

  /**
   * @param url where Redis listens
   * @param sharedConnections how many connections carry plain commands
   * @param holdLimit replies larger than this are dropped (`OversizedReply`)
   */
  constructor(url: string, sharedConnections: number, holdLimit = Infinity) {
    this.#pool = new RedisPool(url, sharedConnections, holdLimit);
    this.#url = url;
  }

  async run(
    commands: ReadonlyArray<CommandArgs>,
    onReply: (reply: RespValue) => void,
  ): Promise<void> {
    const link = await this.#pool.sharedReady();
    await link.run(commands, onReply);
  }

  async transaction(commands: ReadonlyArray<CommandArgs>): Promise<RespValue[]> {
    const connection = await this.#pool.acquire();
    try {
      return await connection.commands([["MULTI"], ...commands, ["EXEC"]]);
    } finally {
      this.#pool.release(connection);
    }
  }

  subscriber(): Promise<RedisLink> {
    return this.#pool.dedicated();
  }

  async describe(): Promise<[RespValue, RespValue]> {
    const connection = await this.#pool.sharedReady();
    const [table, docs] = await connection.commands([["COMMAND"], ["COMMAND", "DOCS"]]);
    return [table, docs];
  }

  async narrowScripts(denied: ReadonlyArray<string>): Promise<string | undefined> {
    // A Redis user without ACL rights (a managed Redis) keeps the gateway running on that
    // user, which its operator restricts.
    return await this.#pool.narrow(await narrowedSession(denied, this.#url));
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
