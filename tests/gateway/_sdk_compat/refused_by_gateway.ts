/**
 * SDK methods whose commands the gateway refuses by default (issue #11, "Safe by default"):
 * they wipe or reconfigure the whole server for every tenant, so an operator must opt in
 * with `--allow`. Through a default gateway each must fail with the gateway's 400 naming
 * the command, and what Redis holds must be untouched (the `intact` check).
 *
 * | method           | command         | why refused                                   |
 * | ---------------- | --------------- | --------------------------------------------- |
 * | flushall         | FLUSHALL        | @admin/@dangerous: deletes every key          |
 * | flushdb          | FLUSHDB         | @dangerous: deletes every key of the database |
 * | scriptFlush      | SCRIPT FLUSH    | drops every cached script of every client     |
 * | functions.flush  | FUNCTION FLUSH  | drops every function library                  |
 * | functions.delete | FUNCTION DELETE | drops a library other clients call            |
 * | clientSetinfo    | CLIENT SETINFO  | sticks to the shared pooled connection        |
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Redis } from "@upstash/redis";
import type { RawCommand } from "./context.ts";

/** One SDK method the gateway refuses, how to call it, and what must survive it. */
export interface RefusedCommand {
  readonly method: string;
  /** The command the gateway's error must name (first word is enough). */
  readonly command: string;
  /** Stores something the refused command would destroy; returns the check that it did not. */
  arrange(raw: RawCommand, key: string): Promise<() => Promise<void>>;
  call(redis: Redis, key: string): Promise<unknown>;
}

/** A key that must still hold its value afterwards. */
async function keepsKey(raw: RawCommand, key: string): Promise<() => Promise<void>> {
  await raw("SET", key, "survivor");
  return async () => assert.equal(await raw("GET", key), "survivor", "the key survived");
}

/** A cached script that must still be loaded afterwards. */
async function keepsScript(raw: RawCommand, key: string): Promise<() => Promise<void>> {
  const sha = (await raw("SCRIPT", "LOAD", `return '${key}'`)) as string;
  return async () => assert.deepEqual(await raw("SCRIPT", "EXISTS", sha), [1], "script kept");
}

/** A function library named after the key that must still be loaded afterwards. */
async function keepsLibrary(raw: RawCommand, key: string): Promise<() => Promise<void>> {
  const name = libraryName(key);
  await raw(
    "FUNCTION",
    "LOAD",
    "REPLACE",
    `#!lua name=${name}\nredis.register_function('${name}_f', function() return 1 end)`,
  );
  return async () => {
    const listed = (await raw("FUNCTION", "LIST", "LIBRARYNAME", name)) as unknown[];
    assert.equal(listed.length, 1, "library kept");
  };
}

function libraryName(key: string): string {
  return `lib_${key.replace(/\W/g, "_")}`;
}

export const REFUSED_BY_GATEWAY: readonly RefusedCommand[] = [
  { method: "flushall", command: "FLUSHALL", arrange: keepsKey, call: (r) => r.flushall() },
  { method: "flushdb", command: "FLUSHDB", arrange: keepsKey, call: (r) => r.flushdb() },
  { method: "scriptFlush", command: "SCRIPT", arrange: keepsScript, call: (r) => r.scriptFlush() },
  {
    method: "functions.flush",
    command: "FUNCTION",
    arrange: keepsLibrary,
    call: (r) => r.functions.flush(),
  },
  {
    method: "functions.delete",
    command: "FUNCTION",
    arrange: keepsLibrary,
    call: (r, k) => r.functions.delete(libraryName(k)),
  },
  {
    method: "clientSetinfo",
    command: "CLIENT",
    // Redis 7.0 has no CLIENT SETINFO, so nothing could change; the refusal is the point.
    arrange: () => Promise.resolve(() => Promise.resolve()),
    call: (r) => r.clientSetinfo("LIB-NAME", "compat-lib"),
  },
];
