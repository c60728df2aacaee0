/**
 * What every SDK compatibility case gets: the `@upstash/redis` client talking to the
 * gateway, and a second path to the same redis-server (node-redis over RESP, a client
 * nobody here wrote) to read back what Redis really holds.
 *
 * @module
 */

import type { Redis } from "@upstash/redis";
import { createClient } from "redis";

/** Sends one command straight to redis-server over RESP2 and returns its raw reply. */
export type RawCommand = (...args: (string | number)[]) => Promise<unknown>;

/** The two paths to one redis-server that a case compares. */
export interface CompatContext {
  /** `@upstash/redis` through the gateway, in one of the suite's modes. */
  readonly redis: Redis;
  /** node-redis straight to redis-server: the second path that tells what Redis holds. */
  readonly raw: RawCommand;
  /** A key no other case uses, with a hash tag so a clustered gateway routes it too. */
  key(name?: string): string;
}

/** One SDK method exercised against the gateway and checked with the raw client. */
export interface CompatCase {
  /** The SDK method, as reflected: `hset`, `json.get`, `functions.call`, `createScript`. */
  readonly method: string;
  /** Calls the method (throws an assertion error when the SDK and Redis disagree). */
  run(ctx: CompatContext): Promise<void>;
}

/** A node-redis connection to `url` and a {@linkcode RawCommand} over it. */
export interface RawConnection extends AsyncDisposable {
  readonly command: RawCommand;
}

/**
 * Connects node-redis to `url` with RESP2 and no reconnection, so a reply is exactly what
 * redis-server sent (bulk strings as JS strings, integers as numbers, nil as null).
 */
export async function connectRaw(url: string): Promise<RawConnection> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on("error", () => {
    // A refused or dropped connection rejects the pending command; nothing else to do.
  });
  await client.connect();
  return {
    command: (...args) => client.sendCommand(args.map(String)),
    async [Symbol.asyncDispose]() {
      await client.close();
    },
  };
}

/** Builds the per-case key factory: `compat:{<method>}:<name>`. */
export function keysFor(method: string): (name?: string) => string {
  return (name = "k") => `compat:{${method}}:${name}`;
}
