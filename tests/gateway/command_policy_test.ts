/**
 * The gateway is safe by default: administrative and dangerous commands, decided from
 * what the Redis behind it says about each command (ACL categories, groups, the
 * `blocking` flag), are refused with a 400 naming them, and nothing of a batch holding one
 * runs. An operator opts single commands in with `--allow`.
 */

import assert from "node:assert/strict";
import { CommandPolicy, streamReadBlocks } from "../../scripts/_gateway/command_policy.ts";
import { parseGatewayArgs } from "../../scripts/redis_http.ts";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

/** Each command a hostile token holder might try, with the name the refusal must give. */
const ADMIN: Array<[string, Array<string | number>]> = [
  ["SHUTDOWN", ["SHUTDOWN", "NOSAVE"]],
  ["SHUTDOWN", ["shutdown"]],
  ["CONFIG SET", ["CONFIG", "SET", "maxmemory", "1"]],
  ["CONFIG SET", ["config", "set", "requirepass", "stolen"]],
  ["CONFIG GET", ["CONFIG", "GET", "requirepass"]],
  ["CONFIG REWRITE", ["Config", "Rewrite"]],
  ["FLUSHALL", ["FLUSHALL"]],
  ["FLUSHALL", ["flushall", "ASYNC"]],
  ["FLUSHDB", ["FLUSHDB"]],
  ["SWAPDB", ["SWAPDB", 0, 1]],
  ["REPLICAOF", ["REPLICAOF", "127.0.0.1", 1]],
  ["SLAVEOF", ["SLAVEOF", "127.0.0.1", 1]],
  ["CLIENT PAUSE", ["CLIENT", "PAUSE", 60000]],
  ["CLIENT LIST", ["CLIENT", "LIST"]],
  ["CLIENT UNBLOCK", ["CLIENT", "UNBLOCK", 1]],
  ["BGSAVE", ["BGSAVE"]],
  ["SAVE", ["SAVE"]],
  ["BGREWRITEAOF", ["BGREWRITEAOF"]],
  ["MIGRATE", ["MIGRATE", "127.0.0.1", 1, "k", 0, 1000]],
  ["ACL SETUSER", ["ACL", "SETUSER", "evil", "on", ">pw", "+@all"]],
  ["ACL LIST", ["ACL", "LIST"]],
  ["DEBUG", ["DEBUG", "SLEEP", 5]],
  ["DEBUG", ["DEBUG", "SEGFAULT"]],
  ["MODULE LOAD", ["MODULE", "LOAD", "/tmp/evil.so"]],
  ["FAILOVER", ["FAILOVER"]],
  ["CLUSTER INFO", ["CLUSTER", "INFO"]],
  ["CLUSTER RESET", ["CLUSTER", "RESET"]],
  ["READONLY", ["READONLY"]],
  ["SCRIPT KILL", ["SCRIPT", "KILL"]],
  ["SCRIPT FLUSH", ["SCRIPT", "FLUSH"]],
  ["FUNCTION FLUSH", ["FUNCTION", "FLUSH"]],
  ["FUNCTION DELETE", ["FUNCTION", "DELETE", "lib"]],
  ["FUNCTION RESTORE", ["FUNCTION", "RESTORE", "x"]],
  ["INFO", ["INFO"]],
  ["LATENCY RESET", ["LATENCY", "RESET"]],
  ["SLOWLOG RESET", ["SLOWLOG", "RESET"]],
  ["MEMORY PURGE", ["MEMORY", "PURGE"]],
  ["PFDEBUG", ["PFDEBUG", "GETREG", "h"]],
];

async function assertRefused(
  stack: RedisStack,
  name: string,
  command: Array<string | number>,
): Promise<void> {
  const label = JSON.stringify(command);
  const naming = new RegExp(`\\b${name}\\b is not allowed over HTTP`);
  const alone = await post(stack, "/", command);
  assert.equal(alone.status, 400, label);
  assert.match((alone.body as { error: string }).error, naming, label);
  const piped = await post(stack, "/pipeline", [["SET", "ran", "pipeline"], command]);
  assert.equal(piped.status, 400, `pipeline ${label}`);
  assert.match((piped.body as { error: string }).error, naming, `pipeline ${label}`);
  const queued = await post(stack, "/multi-exec", [["SET", "ran", "multi"], command]);
  assert.equal(queued.status, 400, `multi-exec ${label}`);
  assert.match((queued.body as { error: string }).error, naming, `multi-exec ${label}`);
}

Deno.test("admin and dangerous commands are refused by default with a 400 naming them, and nothing of their batch runs", async () => {
  await using stack = await startRedisStack({ allow: [] });
  await stack.redis.set("kept", "value");
  await stack.redis.scriptLoad("return 1");
  for (const [name, command] of ADMIN) await assertRefused(stack, name, command);
  // Redis is still up, nothing was flushed, renamed, saved or paused, no batch ran.
  assert.equal(await stack.redis.get("kept"), "value");
  assert.equal(await stack.redis.exists("ran"), 0);
  assert.deepEqual(await stack.redis.scriptExists("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"), [1]);
  assert.equal(await stack.redis.ping(), "PONG");
});

Deno.test("data commands Upstash serves still run, including the ones Redis calls dangerous", async () => {
  await using stack = await startRedisStack({ allow: [] });
  await stack.redis.set("a:1", "x");
  assert.deepEqual(await stack.redis.keys("a:*"), ["a:1"]);
  assert.equal(await stack.redis.dbsize(), 1);
  assert.equal((await stack.redis.time()).length, 2);
  const dumped = await post(stack, "/", ["DUMP", "a:1"], { "upstash-encoding": "base64" });
  assert.equal(dumped.status, 200);
  // The gateway runs as the ACL user its policy narrows (see script_policy_test.ts).
  const whoami = await post(stack, "/", ["ACL", "WHOAMI"]);
  assert.match((whoami.body as { result: string }).result, /^kiln-gateway-[0-9a-f]{16}$/);
  assert.equal((await post(stack, "/", ["CLIENT", "ID"])).status, 200);
  assert.equal((await post(stack, "/", ["SCRIPT", "LOAD", "return 2"])).status, 200);
  // A command nobody knows reaches Redis, which says so itself.
  const unknown = await post(stack, "/", ["NOSUCHCOMMAND"]);
  assert.equal(unknown.status, 400);
  assert.match((unknown.body as { error: string }).error, /^ERR unknown command/);
});

Deno.test("--allow opts in exactly the commands and subcommands it names", async () => {
  await using stack = await startRedisStack({ allow: ["flushdb", "CONFIG|GET"] });
  await stack.redis.set("k", "v");
  assert.deepEqual((await post(stack, "/", ["FLUSHDB"])).body, { result: "OK" });
  assert.equal(await stack.redis.exists("k"), 0);
  const config = await post(stack, "/", ["CONFIG", "GET", "maxmemory-policy"]);
  assert.deepEqual(config.body, { result: ["maxmemory-policy", "noeviction"] });
  await assertRefused(stack, "CONFIG SET", ["CONFIG", "SET", "maxmemory", "1"]);
  await assertRefused(stack, "FLUSHALL", ["FLUSHALL"]);
});

Deno.test("--allow refuses at start-up what can never run on a shared connection", () => {
  const never = ["SELECT", "client|kill", "HELLO", "MULTI", "SUBSCRIBE", "MONITOR", "asking"];
  for (const entry of never) {
    assert.throws(
      () => parseGatewayArgs(["--token", "t", "--allow", `FLUSHDB,${entry}`]),
      /changes a connection the gateway shares/,
      entry,
    );
  }
  assert.throws(() => parseGatewayArgs(["--token", "t", "--allow", "A|B|C"]), /NAME\|SUBCOMMAND/);

  const options = parseGatewayArgs([
    "--token",
    "t",
    "--allow",
    "FLUSHDB, config|get",
    "--allow",
    "DEBUG",
  ]);
  assert.deepEqual(options.allow, ["FLUSHDB", " config|get", "DEBUG"]);
});

Deno.test("stream reads that would block are refused however their options are spelled, and PING never waits", async () => {
  await using stack = await startRedisStack({ allow: ["CLIENT|LIST"] });
  await post(stack, "/", ["XGROUP", "CREATE", "evs", "STREAMS", "$", "MKSTREAM"]);
  const blocking = [
    // The bypass: a group called STREAMS hid the BLOCK from a scan that stopped there.
    ["XREADGROUP", "GROUP", "STREAMS", "c1", "BLOCK", 8000, "STREAMS", "evs", ">"],
    ["xreadgroup", "group", "g", "c", "noack", "block", 0, "streams", "evs", ">"],
    ["XREAD", "COUNT", 1, "BLOCK", 8000, "STREAMS", "evs", "$"],
    ["XREAD", "block", "1", "streams", "evs", "$"],
    ["BLPOP", "q", 8],
    ["BLMPOP", 8, 1, "q", "LEFT"],
    ["BZMPOP", 8, 1, "z", "MIN"],
    ["BLMOVE", "a", "b", "LEFT", "RIGHT", 8],
  ];
  const pending = blocking.map((command) => post(stack, "/", command));
  const ping = await post(stack, "/", ["PING"]);
  assert.deepEqual(ping.body, { result: "PONG" });
  for (const [i, reply] of (await Promise.all(pending)).entries()) {
    assert.equal(reply.status, 400, JSON.stringify(blocking[i]));
    assert.match((reply.body as { error: string }).error, /not allowed over HTTP/);
  }
  // Nothing ever reached Redis: no connection is blocked.
  const clients = (await post(stack, "/", ["CLIENT", "LIST"])).body as { result: string };
  assert.doesNotMatch(clients.result, /flags=\S*b/);
  assert.doesNotMatch(clients.result, /cmd=(xread|xreadgroup|blpop|blmpop|bzmpop|blmove)\b/);

  // Option names used as group, consumer or key names are names, as Redis reads them.
  const named = await post(stack, "/", [
    "XREADGROUP",
    "GROUP",
    "BLOCK",
    "STREAMS",
    "STREAMS",
    "evs",
    ">",
  ]);
  assert.equal(named.status, 400);
  assert.match((named.body as { error: string }).error, /^NOGROUP/);
  const keyed = await post(stack, "/", ["XREAD", "COUNT", 1, "STREAMS", "block", "0"]);
  assert.deepEqual(keyed, { status: 200, body: { result: null } });
});

Deno.test("streamReadBlocks() reads XREAD and XREADGROUP options the way Redis does", () => {
  const cases: Array<[Array<string | number>, boolean]> = [
    [["XREAD", "STREAMS", "s", "0"], false],
    [["XREAD", "BLOCK", 0, "STREAMS", "s", "0"], true],
    [["XREAD", "STREAMS", "BLOCK", "0"], false],
    [["XREADGROUP", "GROUP", "STREAMS", "c1", "BLOCK", 8000, "STREAMS", "evs", ">"], true],
    [["XREADGROUP", "GROUP", "BLOCK", "BLOCK", "STREAMS", "s", ">"], false],
    [["XREADGROUP", "GROUP", "g", "c", "COUNT", "BLOCK", "STREAMS", "s", ">"], false],
    [["XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", 1, "STREAMS", "s", ">"], true],
    [["XREAD", "BLOCK"], false], // BLOCK without a value: Redis answers a syntax error
    [["XREAD", "COUNT", "1", "BOGUS", "BLOCK", 1, "STREAMS", "s", "0"], false],
  ];
  for (const [command, blocks] of cases) {
    assert.equal(streamReadBlocks(command), blocks, JSON.stringify(command));
  }
});

Deno.test("the policy follows what Redis reports, not a list of names: a new @admin command is refused", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const entry = (name: string, flags: string[], categories: string[], subs: unknown[] = []) => [
    enc(name),
    -1,
    flags,
    0,
    0,
    0,
    categories,
    [],
    [],
    subs,
  ];
  const table = [
    entry("newadmin", ["admin"], ["@admin", "@slow"]),
    entry("newread", ["readonly"], ["@read", "@fast"]),
    entry("newblock", ["blocking"], ["@list"]),
    entry("box", [], ["@slow"], [
      entry("box|open", [], ["@read"]),
      entry("box|wipe", ["write"], ["@dangerous"]),
    ]),
    entry("newsrv", [], ["@slow"]),
  ];
  const docs = [enc("newsrv"), [enc("group"), enc("server")]];
  // deno-lint-ignore no-explicit-any
  const policy = CommandPolicy.fromRedis(table as any, docs as any, new Set(["BOX|WIPE"]));
  assert.match(policy.refusal(["NewAdmin"])!, /NEWADMIN is not allowed.*@admin/);
  assert.equal(policy.refusal(["newread", "k"]), undefined);
  assert.match(policy.refusal(["newblock", "k"])!, /NEWBLOCK is not allowed.*blocks/);
  assert.equal(policy.refusal(["box", "open"]), undefined);
  assert.equal(policy.refusal(["box", "wipe"]), undefined); // allowed
  assert.match(policy.refusal(["newsrv"])!, /administers the server/);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => CommandPolicy.fromRedis({ message: "NOPERM" } as any, [], new Set()),
    /did not answer COMMAND/,
  );
});

Deno.test("several --redis URLs without --cluster are refused at start-up", () => {
  assert.throws(
    () => parseGatewayArgs(["--token", "t", "--redis", "redis://a:1", "--redis", "redis://b:2"]),
    /add --cluster/,
  );
  const cluster = parseGatewayArgs([
    "--token",
    "t",
    "--cluster",
    "--redis",
    "redis://a:1",
    "--redis",
    "redis://b:2",
  ]);
  assert.deepEqual([cluster.cluster, cluster.redisUrl], [true, ["redis://a:1", "redis://b:2"]]);
});
