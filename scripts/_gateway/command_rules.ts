/**
 * Validates request bodies into commands, and names the commands that would wedge or
 * corrupt a connection the gateway shares between clients: subscriber mode, MONITOR,
 * replication, WAIT, transactions outside `/multi-exec`, and anything that changes the
 * connection's database, user, protocol or per-connection settings. These are about how
 * the gateway uses its connections, so no `--allow` can opt them in; what Redis itself
 * says about a command (categories, the `blocking` flag) is applied in
 * `command_policy.ts`.
 *
 * @module
 */

import type { CommandArgs } from "./redis_reply.ts";

/** A request the gateway refuses, with the HTTP status to answer it with. */
export class HttpError extends Error {
  /** The HTTP status code. */
  readonly status: number;
  /**
   * @param status the HTTP status code
   * @param message the text for `{"error": …}`
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}

const CONNECTION_COMMANDS = new Set([
  // WAIT and WAITAOF block until replicas answer, yet Redis does not flag them `blocking`.
  "WAIT",
  "WAITAOF",
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
  "MONITOR",
  "SYNC",
  "PSYNC",
  "REPLCONF",
  "MULTI",
  "EXEC",
  "DISCARD",
  "WATCH",
  "UNWATCH",
  "SELECT",
  "AUTH",
  "HELLO",
  "RESET",
  "QUIT",
  // Cluster connection modes: ASKING redirects the connection's next command, READONLY
  // lets it read from replicas.
  "ASKING",
  "READONLY",
  "READWRITE",
]);

/**
 * CLIENT subcommands that end a connection, desynchronise its replies, or leave a setting
 * on it that every later request on the shared connection would inherit (a name, eviction
 * and LRU behaviour).
 */
const CONNECTION_CLIENT_SUBCOMMANDS = new Set([
  "REPLY",
  "TRACKING",
  "CACHING",
  "KILL",
  "SETNAME",
  "SETINFO",
  "NO-EVICT",
  "NO-TOUCH",
]);

/**
 * @param command a command name and its arguments
 * @returns why `command` may not run on a shared connection, or `undefined` if it may
 */
export function connectionRefusal(command: CommandArgs): string | undefined {
  const name = String(command[0]).toUpperCase();
  if (CONNECTION_COMMANDS.has(name)) {
    return `Command ${name} is not allowed over HTTP: it blocks or changes connection state`;
  }
  if (name === "CLIENT" && command.length > 1) {
    const sub = String(command[1]).toUpperCase();
    if (CONNECTION_CLIENT_SUBCOMMANDS.has(sub)) {
      return `Command CLIENT ${sub} is not allowed over HTTP: it changes connection state`;
    }
  }
  return undefined;
}

/**
 * Checks that `value` is a non-empty array of strings, numbers and booleans. Booleans
 * become `"true"` and `"false"`, as `@upstash/redis` sends them (`set(k, true)`) and
 * expects to read them back.
 *
 * @param value a parsed JSON value
 * @returns the command
 * @throws {HttpError} 400 when the command is malformed
 */
export function toCommand(value: unknown): CommandArgs {
  if (!Array.isArray(value)) {
    throw new HttpError(400, "Request body must be a JSON array holding one command");
  }
  if (value.length === 0) throw new HttpError(400, "Command is empty");
  for (let i = 0; i < value.length; i++) {
    const arg = value[i];
    const kind = typeof arg;
    if (kind === "boolean") {
      value[i] = arg ? "true" : "false";
    } else if (kind !== "string" && (kind !== "number" || !Number.isFinite(arg))) {
      throw new HttpError(
        400,
        `Command argument ${i} must be a string, a finite number or a boolean, got ${
          arg === null ? "null" : Array.isArray(arg) ? "array" : kind
        }`,
      );
    }
  }
  return value;
}

/**
 * Checks that `value` is a non-empty array of commands.
 *
 * @param value a parsed JSON value
 * @returns the commands
 * @throws {HttpError} 400 when any command is malformed
 */
export function toCommandList(value: unknown): CommandArgs[] {
  if (!Array.isArray(value)) {
    throw new HttpError(400, "Request body must be a JSON array of command arrays");
  }
  if (value.length === 0) throw new HttpError(400, "Pipeline is empty");
  const commands: CommandArgs[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    try {
      commands[i] = toCommand(value[i]);
    } catch (error) {
      if (error instanceof HttpError) throw new HttpError(400, `Command ${i}: ${error.message}`);
      throw error;
    }
  }
  return commands;
}

/**
 * Parses a request body as JSON.
 *
 * @throws {HttpError} 400 when the body is not valid JSON
 */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "Request body is not valid JSON");
  }
}
