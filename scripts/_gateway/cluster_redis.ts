/**
 * A Redis Cluster behind the gateway (`--cluster`, one or more seed `--redis` URLs).
 *
 * - Each command goes to the master serving its first key's slot; Redis itself refuses a
 *   multi-key command across slots with its own `CROSSSLOT` error, which the client gets.
 * - `MOVED` updates the slot table (and re-reads it from the cluster) and resends; `ASK`
 *   resends once to the importing node after `ASKING`, on the same connection.
 * - A master that cannot be dialled (killed, failing over) makes the gateway re-read the
 *   slot table from the other nodes and try again with back-off, for up to
 *   {@linkcode RETRY_FOR_MS}: only commands that were never sent are retried, so nothing
 *   runs twice. A connection that breaks with commands in flight is a 503, and so is a
 *   cluster none of whose nodes answers, at once. In a pipeline, only the commands for a
 *   master that cannot be reached get `{"error"}`; the others keep their results.
 * - A pipeline is split per master, each part sent as one pipeline, the replies answered
 *   in the request's order; commands Redis runs on every shard (SCRIPT LOAD, FLUSHDB,
 *   DBSIZE, KEYS, …) go to every master and their replies are combined as Redis's
 *   `response_policy` says, in order with the commands around them.
 * - A transaction runs on the master of its first key (all its keys must share a slot,
 *   as Redis requires); a script on the master of its first key.
 * - Subscriptions go to any master: classic pub/sub is broadcast to the whole cluster.
 *
 * One pool of node-redis connections per master, as for a single Redis. node-redis's own
 * cluster client (`createCluster`) is not used: it routes one command at a time, and the
 * gateway needs what it does not do: a pipeline split per master and answered in the
 * request's order, commands run on every shard and combined by their `response_policy`,
 * SCAN across masters, PUBLISH through the channel's master, a transaction checked for
 * CROSSSLOT before anything runs, and retries limited to commands never sent.
 *
 * @module
 */

import { backoff } from "../../src/_backoff.ts";
import { CommandRoutes } from "./cluster_commands.ts";
import { type NodeAddress, redirectionOf, SlotMap, slotOfKey } from "./cluster_slot_map.ts";
import type { RedisBackend } from "./redis_backend.ts";
import { type RedisLink, urlAt } from "./redis_link.ts";
import { RedisPool } from "./redis_pool.ts";
import {
  type CommandArgs,
  RedisErrorReply,
  RedisUnavailableError,
  type RespValue,
} from "./redis_reply.ts";
import { narrowedSession } from "./script_acl.ts";

/**
 * How long a command waits for a restarted or failed-over master before a 503: long
 * enough for a process restart or a quick failover, short enough that a client is not
 * kept waiting through a long one (the cluster's node timeout, 15 s by default).
 */
export const RETRY_FOR_MS = 1_600;
const RETRY_BACKOFF = { initial: 50, factor: 2, max: 800, jitter: "equal" as const };
/** Attempts whose back-off adds up to about {@linkcode RETRY_FOR_MS}. */
const MAX_DIAL_ATTEMPTS = 5;
/** Redirections one command may follow before its reply is the last one. */
const MAX_REDIRECTIONS = 5;

/** Redis's own error for keys in more than one slot. */
const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";

/** Errors that say the cluster is moving, not that the command is wrong. */
const TRANSIENT = /^(TRYAGAIN|CLUSTERDOWN|LOADING|MASTERDOWN) /;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @returns the slot every key a SCAN's MATCH pattern can match lies in, when the pattern
 *   starts with literal text up to a literal `{tag}`; otherwise `undefined`
 */
function taggedSlot(command: CommandArgs): number | undefined {
  for (let i = 2; i + 1 < command.length; i += 2) {
    if (String(command[i]).toUpperCase() !== "MATCH") continue;
    const pattern = String(command[i + 1]);
    const open = pattern.indexOf("{");
    const close = pattern.indexOf("}", open + 1);
    if (open < 0 || close <= open + 1 || /[*?[\\]/.test(pattern.slice(0, close))) {
      return undefined;
    }
    return slotOfKey(pattern.slice(0, close + 1));
  }
  return undefined;
}

/** A command the cluster answered for, at a position of the request. */
interface Placed {
  index: number;
  command: CommandArgs;
}

/** @returns `host:port` of a `redis://` URL, the port 6379 when it names none */
function addressOf(url: string): NodeAddress {
  const { hostname, port } = new URL(url);
  return `${hostname.replace(/^\[|\]$/g, "")}:${port || 6379}`;
}

/** Redis Cluster behind the gateway. */
export class ClusterRedis implements RedisBackend {
  readonly #seeds: string[];
  readonly #sharedConnections: number;
  readonly #holdLimit: number;
  readonly #pools = new Map<NodeAddress, RedisPool>();
  /** What every node's connections run after authenticating (see `script_acl.ts`). */
  #session: ReadonlyArray<CommandArgs> = [];
  readonly #slots = new SlotMap();
  #routes: CommandRoutes | undefined;
  #refreshing: Promise<void> | undefined;
  #loaded = false;

  /**
   * @param seeds nodes to read the cluster's slot table from (their user and password
   *   are used for every node)
   * @param sharedConnections shared connections per master
   * @param holdLimit replies larger than this are dropped (`OversizedReply`)
   */
  constructor(seeds: string[], sharedConnections: number, holdLimit = Infinity) {
    if (seeds.length === 0) throw new TypeError("A cluster needs at least one seed node");
    if (seeds.some((seed) => !/^\/?(0)?$/.test(new URL(seed).pathname))) {
      throw new TypeError("A Redis Cluster has only database 0: drop the /db from --redis");
    }
    this.#seeds = seeds;
    this.#sharedConnections = sharedConnections;
    this.#holdLimit = holdLimit;
  }

  async describe(): Promise<[RespValue, RespValue]> {
    const [table, docs] = await this.#withAnyNode((connection) =>
      connection.commands([["COMMAND"], ["COMMAND", "DOCS"]])
    );
    this.#routes = new CommandRoutes(table);
    return [table, docs];
  }

  async narrowScripts(denied: ReadonlyArray<string>): Promise<string | undefined> {
    const seed = this.#seeds[0];
    const session = await narrowedSession(denied, seed);
    const failed = await this.#poolFor(addressOf(seed)).narrow(session);
    if (failed !== undefined) return failed;
    // ACL users are per node: every node's connections create it in their handshake, so
    // a replica promoted after a failover has it from its first connection on.
    this.#session = session;
    for (const pool of this.#pools.values()) pool.startSessionsWith(session);
    return undefined;
  }

  async run(
    commands: ReadonlyArray<CommandArgs>,
    onReply: (reply: RespValue) => void,
  ): Promise<void> {
    await this.#ready();
    const replies: RespValue[] = new Array(commands.length);
    // Commands that run on every shard split the request: what comes before them runs
    // before them, and what comes after, after.
    let segment: Placed[] = [];
    for (let index = 0; index < commands.length; index++) {
      const command = commands[index];
      const everywhere = this.#routes!.routeOf(command)?.allShards;
      const scan = String(command[0]).toUpperCase() === "SCAN";
      if (everywhere || scan) {
        await this.#runSegment(segment, replies);
        segment = [];
        replies[index] = everywhere
          ? await this.#runEverywhere(command)
          : await this.#scan(command);
      } else {
        segment.push({ index, command });
      }
    }
    await this.#runSegment(segment, replies);
    for (const reply of replies) onReply(reply);
  }

  async transaction(commands: ReadonlyArray<CommandArgs>): Promise<RespValue[]> {
    await this.#ready();
    // Redis runs a transaction on one node and only within one slot; across slots it
    // would answer MOVED while queueing. Say what Redis says of such a request instead,
    // and run nothing.
    const slots = new Set<number>();
    for (const command of commands) {
      const key = await this.#firstKey(command);
      if (key !== null) slots.add(slotOfKey(key));
    }
    if (slots.size > 1) {
      return [
        "OK",
        ...commands.map(() => "QUEUED"),
        new RedisErrorReply(`EXECABORT Transaction discarded because of: ${CROSSSLOT}`),
      ];
    }
    const slot: number | undefined = slots.values().next().value;
    const batch: CommandArgs[] = [["MULTI"], ...commands, ["EXEC"]];
    let address = slot === undefined ? this.#slots.anyMaster() : this.#slots.ownerOf(slot);
    let asking = false;
    for (let attempt = 0;; attempt++) {
      const pool = this.#poolFor(address);
      let connection: RedisLink;
      try {
        connection = await pool.acquire();
      } catch (error) {
        await this.#afterDialFailure(error, attempt);
        address = slot === undefined ? this.#slots.anyMaster() : this.#slots.ownerOf(slot);
        continue;
      }
      let replies: RespValue[];
      try {
        // ASKING stays in force for a whole MULTI, so a migrating slot's transaction
        // runs on the importing master.
        replies = await connection.commands(asking ? [["ASKING"], ...batch] : batch);
      } finally {
        pool.release(connection);
      }
      if (asking) replies = replies.slice(1);
      // A slot that moved shows up while queueing and aborts the transaction: nothing
      // ran, so it may run again where the slot is now.
      let redirection: ReturnType<typeof redirectionOf>;
      for (const reply of replies) {
        if (reply instanceof RedisErrorReply) redirection ??= redirectionOf(reply.message);
      }
      if (attempt >= MAX_REDIRECTIONS) return replies;
      if (redirection === undefined) {
        const exec = replies[replies.length - 1];
        if (!(exec instanceof RedisErrorReply && TRANSIENT.test(exec.message))) return replies;
        await sleep(backoff(RETRY_BACKOFF, attempt)); // TRYAGAIN mid-migration: nothing ran
        continue;
      }
      address = this.#addressOf(redirection.address);
      asking = redirection.kind === "ASK";
      if (!asking) {
        this.#slots.move(redirection.slot, address);
        void this.#refresh().catch(() => {});
      }
    }
  }

  async subscriber(channel?: string): Promise<RedisLink> {
    await this.#ready();
    for (let attempt = 0;; attempt++) {
      // The channel's master, where PUBLISH to it goes: its messages arrive in order.
      const address = channel === undefined
        ? this.#slots.anyMaster()
        : this.#slots.ownerOf(slotOfKey(channel));
      try {
        return await this.#poolFor(address).dedicated();
      } catch (error) {
        await this.#afterDialFailure(error, attempt);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#refreshing]);
    await Promise.all([...this.#pools.values()].map((pool) => pool.close()));
  }

  /** Loads the slot table and command routes before the first command. */
  async #ready(): Promise<void> {
    if (this.#routes === undefined) await this.describe();
    if (!this.#loaded) await this.#refresh();
  }

  /** Runs keyed commands, each part on its master as one pipeline, concurrently. */
  async #runSegment(segment: Placed[], replies: RespValue[]): Promise<void> {
    if (segment.length === 0) return;
    const byNode = new Map<NodeAddress | undefined, Placed[]>();
    const slots = new Map<number, number | undefined>();
    for (const placed of segment) {
      const key = await this.#firstKey(placed.command);
      const slot = key === null ? undefined : slotOfKey(key);
      slots.set(placed.index, slot);
      const address = slot === undefined ? this.#slots.anyMaster() : this.#slots.ownerOf(slot);
      const part = byNode.get(address);
      if (part === undefined) byNode.set(address, [placed]);
      else part.push(placed);
    }
    const sent = await Promise.allSettled([...byNode].map(async ([address, part]) => {
      try {
        const answers = await this.#send(address, part.map((p) => p.command));
        for (let i = 0; i < part.length; i++) replies[part[i].index] = answers[i];
      } catch (error) {
        if (!(error instanceof RedisUnavailableError)) throw error;
        // This master's commands get the error; the other masters' results stand.
        const failed = new RedisErrorReply(`ERR ${error.message}`);
        for (const { index } of part) replies[index] = failed;
        throw error;
      }
    }));
    const lost = sent.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
    const unexpected = lost.find((s) => !(s.reason instanceof RedisUnavailableError));
    if (unexpected !== undefined) throw unexpected.reason;
    // Nothing reached Redis: the request as a whole is a 503.
    if (lost.length === sent.length) throw lost[0].reason;
    // Follow redirections one command at a time, in request order.
    for (const { index, command } of segment) {
      let reply = replies[index];
      for (let hops = 0; hops < MAX_REDIRECTIONS; hops++) {
        if (!(reply instanceof RedisErrorReply)) break;
        const redirection = redirectionOf(reply.message);
        if (redirection === undefined) {
          if (!TRANSIENT.test(reply.message)) break;
          await sleep(backoff(RETRY_BACKOFF, hops));
          const slot = slots.get(index);
          const address = slot === undefined ? this.#slots.anyMaster() : this.#slots.ownerOf(slot);
          reply = (await this.#send(address, [command]))[0];
          continue;
        }
        const address = this.#addressOf(redirection.address);
        if (redirection.kind === "MOVED") {
          this.#slots.move(redirection.slot, address);
          void this.#refresh().catch(() => {});
          reply = (await this.#send(address, [command]))[0];
        } else {
          reply = (await this.#send(address, [["ASKING"], command]))[1];
        }
      }
      replies[index] = reply;
    }
  }

  /**
   * SCAN over the cluster. A MATCH pattern that fixes a hash tag (`kiln:{q}:*`) can only
   * match keys of that tag's slot: it goes to that slot's master, cursor untouched.
   * Otherwise the masters are scanned one after the other, the cursor carrying which
   * one: `cursor × masters + index` (0 still means done).
   */
  async #scan(command: CommandArgs): Promise<RespValue> {
    const slot = taggedSlot(command);
    if (slot !== undefined) return (await this.#send(this.#slots.ownerOf(slot), [command]))[0];
    const masters = [...this.#slots.masters].sort();
    let composite: bigint;
    try {
      composite = BigInt(String(command[1] ?? ""));
    } catch {
      return (await this.#send(masters[0], [command]))[0]; // Redis names the bad cursor
    }
    const count = BigInt(masters.length);
    const node = Number(composite % count);
    const args = [...command];
    args[1] = (composite / count).toString();
    const reply = (await this.#send(masters[node], [args]))[0];
    if (!Array.isArray(reply) || reply.length !== 2) return reply;
    const next = BigInt(new TextDecoder().decode(reply[0] as Uint8Array));
    const following = next === 0n
      ? (node + 1 < masters.length ? BigInt(node + 1) : 0n)
      : next * count + BigInt(node);
    return [new TextEncoder().encode(following.toString()), reply[1]];
  }

  /** Runs a command on every master and combines the replies as Redis says to. */
  async #runEverywhere(command: CommandArgs): Promise<RespValue> {
    const combine = this.#routes!.routeOf(command)?.combine ?? "";
    const replies = await Promise.all(
      this.#slots.masters.map(async (address) => (await this.#send(address, [command]))[0]),
    );
    const failed = replies.find((r) => r instanceof RedisErrorReply);
    if (combine === "one_succeeded") {
      return replies.find((r) => !(r instanceof RedisErrorReply)) ?? failed ?? null;
    }
    if (failed !== undefined) return failed;
    switch (combine) {
      case "agg_sum":
        return String(replies.reduce<bigint>((sum, r) => sum + BigInt(String(r)), 0n));
      case "agg_min":
        return String(Math.min(...replies.map(Number)));
      case "agg_max":
        return String(Math.max(...replies.map(Number)));
      case "agg_logical_and":
      case "agg_logical_or": {
        // Per position, 1 when every (and) or any (or) master answered 1: SCRIPT EXISTS.
        const arrays = replies as RespValue[][];
        const test = combine === "agg_logical_and" ? "every" : "some";
        return arrays[0].map((_, i) => arrays[test]((a) => Number(a[i]) === 1) ? "1" : "0");
      }
      case "":
        // No policy (KEYS, RANDOMKEY): arrays are the shards' parts of one answer.
        if (replies.every(Array.isArray)) return (replies as RespValue[][]).flat(1);
        return replies[0];
      default:
        return replies[0];
    }
  }

  /**
   * Sends `commands` to one master as one pipeline. A master that cannot be dialled is
   * looked up again in a re-read slot table, with back-off, for up to {@linkcode RETRY_FOR_MS}.
   */
  async #send(address: NodeAddress | undefined, commands: CommandArgs[]): Promise<RespValue[]> {
    for (let attempt = 0;; attempt++) {
      let connection: RedisLink;
      try {
        connection = await this.#poolFor(address).sharedReady();
      } catch (error) {
        await this.#afterDialFailure(error, attempt);
        // The slot may have another master now; commands without keys take any.
        address = this.#reroute(address, commands);
        continue;
      }
      try {
        return await connection.commands(commands);
      } catch (error) {
        void this.#refresh().catch(() => {});
        throw error;
      }
    }
  }

  /** @returns where `commands` (all for one master) go after the slot table changed */
  #reroute(previous: NodeAddress | undefined, commands: CommandArgs[]): NodeAddress | undefined {
    if (previous !== undefined && this.#slots.masters.includes(previous)) return previous;
    for (const command of commands) {
      const key = this.#routes!.firstKey(command);
      if (typeof key === "string") return this.#slots.ownerOf(slotOfKey(key));
    }
    return this.#slots.anyMaster();
  }

  /** Waits before the next attempt after a failed dial, re-reading the slot table. */
  async #afterDialFailure(error: unknown, attempt: number): Promise<void> {
    if (!(error instanceof RedisUnavailableError) || attempt >= MAX_DIAL_ATTEMPTS) throw error;
    // No node answering at all is an outage, not a failover: nothing to wait for.
    await this.#refresh().catch(() => Promise.reject(error));
    await sleep(backoff(RETRY_BACKOFF, attempt));
  }

  /** @returns the first key of `command`, asking Redis (`COMMAND GETKEYS`) when only it knows */
  async #firstKey(command: CommandArgs): Promise<string | null> {
    const key = this.#routes!.firstKey(command);
    if (key !== undefined) return key;
    const [reply] = await this.#send(this.#slots.anyMaster(), [["COMMAND", "GETKEYS", ...command]]);
    if (!Array.isArray(reply) || reply.length === 0) return null;
    const first = reply[0];
    return first instanceof Uint8Array ? new TextDecoder().decode(first) : String(first);
  }

  /** Re-reads the slot table from the first node that answers; one read at a time. */
  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const reply = await this.#withAnyNode((connection) =>
          connection.commands([["CLUSTER", "SLOTS"]])
        );
        this.#slots.load(reply[0], this.#lastHost);
        this.#loaded = true;
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  #lastHost = "127.0.0.1";

  /** Runs `work` on the first node that can be reached: known masters, then the seeds. */
  async #withAnyNode(work: (connection: RedisLink) => Promise<RespValue[]>) {
    const candidates = [...this.#slots.masters, ...this.#seeds.map(addressOf)];
    let last: unknown;
    for (const address of new Set(candidates)) {
      try {
        const connection = await this.#poolFor(address).sharedReady();
        const replies = await work(connection);
        if (replies[0] instanceof RedisErrorReply) {
          last = new RedisUnavailableError(`${address}: ${replies[0].message}`);
          continue;
        }
        this.#lastHost = address.slice(0, address.lastIndexOf(":"));
        return replies;
      } catch (error) {
        last = error;
      }
    }
    throw last instanceof RedisUnavailableError
      ? last
      : new RedisUnavailableError("No node of the Redis Cluster could be reached", {
        cause: last,
      });
  }

  /** `:port` (a node that does not know its own address) is on the host that answered. */
  #addressOf(address: string): NodeAddress {
    return address.startsWith(":") ? `${this.#lastHost}${address}` : address;
  }

  #poolFor(address: NodeAddress | undefined): RedisPool {
    if (address === undefined) {
      throw new RedisUnavailableError("The Redis Cluster serves no slots yet");
    }
    let pool = this.#pools.get(address);
    if (pool === undefined) {
      pool = new RedisPool(
        urlAt(this.#seeds[0], address),
        this.#sharedConnections,
        this.#holdLimit,
      );
      if (this.#session.length > 0) pool.startSessionsWith(this.#session);
      this.#pools.set(address, pool);
    }
    return pool;
  }
}
