/**
 * Which commands the gateway runs, decided once at start-up from what the Redis behind it
 * says about itself (`COMMAND` and `COMMAND DOCS`), not from a hand-kept list of names:
 *
 * - Redis's own ACL categories: a command or subcommand in `@admin` or `@dangerous`
 *   (SHUTDOWN, CONFIG SET, FLUSHALL, DEBUG, CLIENT KILL, MIGRATE, …) is refused;
 * - Upstash's documented command table
 *   (https://upstash.com/docs/redis/overall/rediscompatibility): the whole `cluster`
 *   group is unsupported there, and of the `server` group only ACL, DBSIZE, FLUSHALL,
 *   FLUSHDB, MONITOR and TIME are offered; what Upstash does not serve is refused here too,
 *   and what it serves that Redis calls dangerous but only touches keys (KEYS, RESTORE)
 *   runs;
 * - commands Redis flags `blocking` would hold a shared connection: refused, except a
 *   stream read whose arguments (parsed the way Redis parses them) carry no BLOCK.
 *
 * Scripts that other tenants' code depends on (SCRIPT FLUSH/KILL, FUNCTION
 * FLUSH/DELETE/RESTORE/KILL) carry no such category in Redis, so they are named here.
 * An operator opts a command in with `--allow NAME` or `--allow NAME|SUB`.
 *
 * @module
 */

import { connectionRefusal } from "./command_rules.ts";
import type { CommandArgs } from "./redis_reply.ts";
import { RedisErrorReply, type RespValue } from "./redis_reply.ts";

/** ACL categories whose commands an HTTP client may not run by default. */
const REFUSED_CATEGORIES = ["@admin", "@dangerous"];

/** Redis `@dangerous` commands that only read or write keys, and Upstash serves. */
const KEYSPACE_DANGEROUS = new Set(["KEYS", "RESTORE"]);

/** The `server`-group commands Upstash documents as supported. */
const UPSTASH_SERVER_COMMANDS = new Set([
  "ACL",
  "DBSIZE",
  "FLUSHALL",
  "FLUSHDB",
  "MONITOR",
  "TIME",
]);

/** Command groups (from `COMMAND DOCS`) Upstash does not serve at all. */
const UPSTASH_UNSUPPORTED_GROUPS = new Set(["cluster"]);

/**
 * Subcommands that wipe or interrupt the scripts every client of this Redis shares; Redis
 * files them under `@scripting` only, so no category can tell them apart.
 */
const SHARED_SCRIPT_STATE = new Set([
  "SCRIPT|FLUSH",
  "SCRIPT|KILL",
  "FUNCTION|FLUSH",
  "FUNCTION|DELETE",
  "FUNCTION|RESTORE",
  "FUNCTION|KILL",
]);

/** Stream reads: flagged `blocking` by Redis, but they block only with a BLOCK option. */
const STREAM_READS = new Set(["XREAD", "XREADGROUP"]);

const text = new TextDecoder();

function str(value: RespValue): string {
  if (value instanceof Uint8Array) return text.decode(value);
  return String(value);
}

/**
 * Normalises one `--allow` entry: `config|get`, `CONFIG GET` → `CONFIG|GET`.
 *
 * @throws {TypeError} when the entry is empty or names a command that changes a shared
 *   connection (those can never be allowed)
 */
function normaliseAllowed(entry: string): string {
  const parts = entry.trim().toUpperCase().split(/[|\s]+/).filter((p) => p.length > 0);
  if (parts.length === 0 || parts.length > 2) {
    throw new TypeError(`--allow entry "${entry}" must be NAME or NAME|SUBCOMMAND`);
  }
  if (connectionRefusal(parts) !== undefined) {
    throw new TypeError(
      `--allow ${
        parts.join("|")
      } is not possible: it blocks or changes a connection the gateway shares`,
    );
  }
  return parts.join("|");
}

/**
 * Parses the `--allow` list.
 *
 * @param entries names such as `FLUSHDB` or `CONFIG|GET` (case-insensitive)
 * @returns the normalised names
 * @throws {TypeError} for a malformed entry or one that can never be allowed
 */
export function parseAllowList(entries: ReadonlyArray<string>): Set<string> {
  return new Set(entries.map(normaliseAllowed));
}

/** One entry of `COMMAND`'s reply, as far as the policy needs it. */
interface CommandEntry {
  name: string;
  flags: string[];
  categories: string[];
  subcommands: CommandEntry[];
}

function toEntry(raw: RespValue): CommandEntry | undefined {
  if (!Array.isArray(raw) || raw.length < 7) return undefined;
  const list = (value: RespValue) => (Array.isArray(value) ? value.map(str) : []);
  const subcommands = Array.isArray(raw[9])
    ? raw[9].map(toEntry).filter((e): e is CommandEntry => e !== undefined)
    : [];
  return {
    name: str(raw[0]).toUpperCase(),
    flags: list(raw[2]),
    categories: list(raw[6]),
    subcommands,
  };
}

/** @returns each command's group from `COMMAND DOCS` (empty when Redis is older than 7) */
function groupsOf(docs: RespValue): Map<string, string> {
  const groups = new Map<string, string>();
  if (!Array.isArray(docs)) return groups;
  for (let i = 0; i + 1 < docs.length; i += 2) {
    const fields = docs[i + 1];
    if (!Array.isArray(fields)) continue;
    for (let j = 0; j + 1 < fields.length; j += 2) {
      if (str(fields[j]) === "group") {
        groups.set(str(docs[i]).toUpperCase(), str(fields[j + 1]));
        break;
      }
    }
  }
  return groups;
}

/**
 * Whether a stream read blocks, reading its options exactly as Redis's `xreadCommand`
 * does: BLOCK and COUNT take a value, GROUP takes two names (which may themselves be
 * spelled `STREAMS` or `BLOCK`), and the first STREAMS that has arguments after it ends
 * the options.
 */
export function streamReadBlocks(command: CommandArgs): boolean {
  for (let i = 1; i < command.length; i++) {
    const more = command.length - i - 1;
    const option = String(command[i]).toUpperCase();
    if (option === "BLOCK" && more > 0) return true;
    if (option === "COUNT" && more > 0) i++;
    else if (option === "GROUP" && more >= 2) i += 2;
    else if (option === "STREAMS" && more > 0) return false;
    else if (option !== "NOACK") return false; // Redis answers a syntax error
  }
  return false;
}

/** The gateway's decision for every command name Redis knows. */
export class CommandPolicy {
  /** `NAME` or `NAME|SUB` → why it is refused. */
  readonly #refused: Map<string, string>;
  /** Commands that have subcommands, so the second argument is part of the name. */
  readonly #containers: Set<string>;
  readonly #blocking: Set<string>;

  private constructor(
    refused: Map<string, string>,
    containers: Set<string>,
    blocking: Set<string>,
  ) {
    this.#refused = refused;
    this.#containers = containers;
    this.#blocking = blocking;
  }

  /**
   * Builds the policy from Redis's replies to `COMMAND` and `COMMAND DOCS`.
   *
   * @param commandReply the reply to `COMMAND`
   * @param docsReply the reply to `COMMAND DOCS` (an error reply on Redis before 7)
   * @param allowed names the operator opted in (see {@linkcode parseAllowList})
   * @throws {TypeError} when `COMMAND` did not answer a command table
   */
  static fromRedis(
    commandReply: RespValue,
    docsReply: RespValue,
    allowed: ReadonlySet<string>,
  ): CommandPolicy {
    if (!Array.isArray(commandReply) || commandReply.length === 0) {
      const detail = commandReply instanceof RedisErrorReply ? `: ${commandReply.message}` : "";
      throw new TypeError(`Redis did not answer COMMAND with its command table${detail}`);
    }
    const groups = groupsOf(docsReply);
    const refused = new Map<string, string>();
    const containers = new Set<string>();
    const blocking = new Set<string>();
    const consider = (entry: CommandEntry, name: string, group: string | undefined) => {
      if (allowed.has(name) || allowed.has(name.split("|")[0])) return;
      const why = reasonFor(entry, name, group);
      if (why !== undefined) {
        refused.set(
          name,
          `Command ${name.replace("|", " ")} is not allowed over HTTP: ${why} ` +
            `(start the gateway with --allow ${name} to permit it)`,
        );
      }
    };
    for (const raw of commandReply) {
      const entry = toEntry(raw);
      if (entry === undefined) continue;
      const group = groups.get(entry.name);
      if (entry.flags.includes("blocking")) blocking.add(entry.name);
      if (entry.subcommands.length > 0) {
        containers.add(entry.name);
        for (const sub of entry.subcommands) consider(sub, sub.name, group);
      } else {
        consider(entry, entry.name, group);
      }
    }
    return new CommandPolicy(refused, containers, blocking);
  }

  /** @returns every refused command and `NAME|SUB` subcommand, for Redis's ACL */
  denied(): string[] {
    return [...this.#refused.keys()];
  }

  /**
   * @param command a well-formed command
   * @returns why it may not run, or `undefined` if it may
   */
  refusal(command: CommandArgs): string | undefined {
    const connection = connectionRefusal(command);
    if (connection !== undefined) return connection;
    const name = String(command[0]).toUpperCase();
    if (this.#blocking.has(name) && !(STREAM_READS.has(name) && !streamReadBlocks(command))) {
      return STREAM_READS.has(name)
        ? `Command ${name} with BLOCK is not allowed over HTTP: it would hold a shared connection`
        : `Command ${name} is not allowed over HTTP: it blocks a shared connection`;
    }
    if (this.#containers.has(name) && command.length > 1) {
      const sub = `${name}|${String(command[1]).toUpperCase()}`;
      const refused = this.#refused.get(sub);
      if (refused !== undefined) return refused;
    }
    return this.#refused.get(name);
  }
}

function reasonFor(
  entry: CommandEntry,
  name: string,
  group: string | undefined,
): string | undefined {
  const top = name.split("|")[0];
  if (group !== undefined && UPSTASH_UNSUPPORTED_GROUPS.has(group)) {
    return `Upstash does not serve ${group} commands`;
  }
  if (group === "server" && !UPSTASH_SERVER_COMMANDS.has(top)) {
    return "it administers the server, which Upstash does not offer";
  }
  if (SHARED_SCRIPT_STATE.has(name)) {
    return "it removes or stops scripts every client of this Redis shares";
  }
  const category = REFUSED_CATEGORIES.find((c) => entry.categories.includes(c));
  if (category !== undefined && !KEYSPACE_DANGEROUS.has(top)) {
    return `Redis puts it in ${category}`;
  }
  return undefined;
}
