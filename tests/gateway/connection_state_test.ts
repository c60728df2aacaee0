/**
 * The gateway shares its Redis connections between clients, so no request may change a
 * connection's protocol, database, user or lifetime. Each refusal is tried through the
 * real gateway in every form a client could wrap it in, then the connections themselves
 * are inspected (`CLIENT LIST`) to show that nothing slipped through.
 */

import assert from "node:assert/strict";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

/** Commands that would change a shared connection, each with the name the refusal must give. */
const STATE_CHANGERS: Array<[string, Array<string | number>]> = [
  ["HELLO", ["HELLO", "3"]],
  ["HELLO", ["hello", 3]],
  ["HELLO", ["HeLLo", "3", "SETNAME", "hijacked"]],
  ["HELLO", ["HELLO"]],
  ["AUTH", ["AUTH", "guess"]],
  ["AUTH", ["auth", "default", "guess"]],
  ["RESET", ["RESET"]],
  ["RESET", ["reset"]],
  ["QUIT", ["QUIT"]],
  ["QUIT", ["Quit"]],
  ["CLIENT KILL", ["CLIENT", "KILL", "ID", "1"]],
  ["CLIENT KILL", ["client", "kill", "TYPE", "normal"]],
  ["CLIENT KILL", ["Client", "Kill", "127.0.0.1:1"]],
  ["SELECT", ["SELECT", 1]],
  ["SELECT", ["select", "1"]],
  ["MONITOR", ["MONITOR"]],
  ["MONITOR", ["monitor"]],
  // Settings that stay on the connection and so apply to every later client's commands.
  ["CLIENT SETNAME", ["CLIENT", "SETNAME", "hijacked"]],
  ["CLIENT SETINFO", ["client", "setinfo", "LIB-NAME", "hijacked"]],
  ["CLIENT NO-EVICT", ["CLIENT", "NO-EVICT", "on"]],
  ["CLIENT NO-TOUCH", ["Client", "No-Touch", "on"]],
];

interface ClientInfo {
  id: string;
  db: string;
  resp: string;
  name: string;
  flags: string;
}

/** Every connection Redis has, as `CLIENT LIST` reports it (asked through the gateway). */
async function connections(stack: RedisStack): Promise<ClientInfo[]> {
  const reply = await post(stack, "/", ["CLIENT", "LIST"]);
  assert.equal(reply.status, 200);
  const text = (reply.body as { result: string }).result;
  return text.trim().split("\n").map((line) => {
    const fields = Object.fromEntries(
      line.trim().split(" ").map((field) => field.split("=", 2) as [string, string]),
    );
    return {
      id: fields.id,
      db: fields.db,
      resp: fields.resp,
      name: fields.name,
      flags: fields.flags,
    };
  });
}

/** Asserts every connection is still RESP2, on database 0, unnamed and without flags. */
async function assertPristine(stack: RedisStack): Promise<void> {
  const all = await connections(stack);
  assert.ok(all.length >= 1);
  for (const client of all) {
    assert.deepEqual(
      { resp: client.resp, db: client.db, name: client.name, flags: client.flags },
      { resp: "2", db: "0", name: "", flags: "N" },
      `connection ${client.id}`,
    );
  }
}

/** The id of the shared connection plain commands run on. */
async function sharedConnectionId(stack: RedisStack): Promise<number> {
  const reply = await post(stack, "/", ["CLIENT", "ID"]);
  return (reply.body as { result: number }).result;
}

/** Opens several dedicated connections at once, so the pool keeps more than one idle. */
async function concurrentTransactions(stack: RedisStack, count: number): Promise<unknown[]> {
  return await Promise.all(
    Array.from({ length: count }, () => post(stack, "/multi-exec", [["HGETALL", "h"]])),
  );
}

Deno.test("every state-changing command is refused with a 400 naming it, alone, in a pipeline, in a transaction and as a path", async () => {
  await using stack = await startRedisStack({ allow: ["CLIENT|LIST"] });
  await concurrentTransactions(stack, 3);
  const sharedBefore = await sharedConnectionId(stack);
  const before = new Set((await connections(stack)).map((client) => client.id));

  for (const [name, command] of STATE_CHANGERS) {
    const label = JSON.stringify(command);
    const naming = new RegExp(`\\b${name}\\b.*not allowed`);
    const alone = await post(stack, "/", command);
    assert.equal(alone.status, 400, label);
    assert.match((alone.body as { error: string }).error, naming, label);

    // Nothing of a refused batch runs, not even the commands before the refused one.
    const piped = await post(stack, "/pipeline", [["SET", "ran", "pipeline"], command, ["PING"]]);
    assert.equal(piped.status, 400, `pipeline ${label}`);
    assert.match((piped.body as { error: string }).error, naming, `pipeline ${label}`);
    const queued = await post(stack, "/multi-exec", [["SET", "ran", "multi"], command]);
    assert.equal(queued.status, 400, `multi-exec ${label}`);
    assert.match((queued.body as { error: string }).error, naming, `multi-exec ${label}`);
    assert.deepEqual((await post(stack, "/", ["GET", "ran"])).body, { result: null }, label);

    // Upstash's path form (`/hello/3`) is refused the same way: never a way around the rules.
    const path = `/${command.map((arg) => encodeURIComponent(String(arg))).join("/")}`;
    const pathForm = await post(stack, path, "");
    assert.ok(pathForm.status >= 400 && pathForm.status < 500, `${path}: ${pathForm.status}`);
  }

  // The very same connections are still there, unchanged: none was reset, closed or killed.
  assert.equal(await sharedConnectionId(stack), sharedBefore);
  const after = new Set((await connections(stack)).map((client) => client.id));
  for (const id of before) assert.ok(after.has(id), `connection ${id} survived`);
  await assertPristine(stack);
});

Deno.test("HELLO 3 in any form never switches a pooled connection to RESP3", async () => {
  await using stack = await startRedisStack({ allow: ["CLIENT|LIST"] });
  await post(stack, "/", ["HSET", "h", "a", "1", "b", "2"]);
  const flat = ["a", "1", "b", "2"];
  await concurrentTransactions(stack, 3);

  const attempts = [
    post(stack, "/", ["HELLO", "3"]),
    post(stack, "/", ["hello", "3"]),
    post(stack, "/pipeline", [["HGETALL", "h"], ["HELLO", "3"], ["HGETALL", "h"]]),
    post(stack, "/pipeline", [["hello", 3]]),
    post(stack, "/multi-exec", [["HELLO", "3"], ["HGETALL", "h"]]),
    post(stack, "/multi-exec", [["hElLo", "3"]]),
    post(stack, "/hello/3", ""),
    // From Lua: Redis refuses HELLO inside a script.
    post(stack, "/", ["EVAL", "return redis.call('HELLO', '3')", 0]),
    post(stack, "/pipeline", [["EVAL", "return redis.call('hello', '3')", 0], ["HGETALL", "h"]]),
  ];
  // Interleave the attempts with reads on the same pipelined connections.
  const reads = Array.from(
    { length: 20 },
    (_, i) =>
      i % 2 === 0
        ? post(stack, "/", ["HGETALL", "h"])
        : post(stack, "/pipeline", [["HGETALL", "h"]]),
  );
  const refusals = await Promise.all(attempts);
  for (const [i, reply] of refusals.entries()) {
    if (i === 8) {
      // A pipeline runs; the script's own error is its entry, and the next read is still flat.
      assert.equal(reply.status, 200);
      const [script, read] = reply.body as Array<{ result?: unknown; error?: string }>;
      assert.match(script.error!, /not allowed from script/);
      assert.deepEqual(read, { result: flat });
      continue;
    }
    assert.ok(reply.status >= 400 && reply.status < 500, `attempt ${i}: ${reply.status}`);
  }
  for (const reply of await Promise.all(reads)) {
    assert.equal(reply.status, 200);
    const body = reply.body as { result: unknown } | Array<{ result: unknown }>;
    assert.deepEqual(Array.isArray(body) ? body[0].result : body.result, flat);
  }

  // A script may ask for RESP3 replies for itself; what it returns is still RESP2.
  const setresp = await post(stack, "/", [
    "EVAL",
    "redis.setresp(3); return redis.call('HGETALL', KEYS[1])",
    1,
    "h",
  ]);
  assert.equal(setresp.status, 200);
  assert.deepEqual((await post(stack, "/", ["HGETALL", "h"])).body, { result: flat });
  assert.deepEqual((await post(stack, "/pipeline", [["HGETALL", "h"]])).body, [{ result: flat }]);
  for (const reply of await concurrentTransactions(stack, 3)) {
    assert.deepEqual((reply as { body: unknown }).body, [{ result: flat }]);
  }
  assert.deepEqual(await stack.redis.hgetall("h"), { a: 1, b: 2 });
  await assertPristine(stack);
});

Deno.test("SELECT in any form, Lua included, never moves a pooled connection off its database", async () => {
  await using stack = await startRedisStack({ allow: ["CLIENT|LIST"] });
  await post(stack, "/", ["SET", "where", "db0"]);
  await concurrentTransactions(stack, 3);

  for (const command of [["SELECT", 1], ["select", "1"], ["SeLeCt", "15"]]) {
    assert.equal((await post(stack, "/", command)).status, 400);
    assert.equal((await post(stack, "/pipeline", [command, ["GET", "where"]])).status, 400);
    assert.equal((await post(stack, "/multi-exec", [command, ["GET", "where"]])).status, 400);
  }

  // Inside a script SELECT is the script's own (Redis 7): it writes to db 1, and the
  // connection that ran it is back on db 0 for the very next command.
  const script =
    "redis.call('SELECT', 1); redis.call('SET', KEYS[1], 'db1'); return redis.call('GET', KEYS[1])";
  const piped = await post(stack, "/pipeline", [["EVAL", script, 1, "where"], ["GET", "where"]]);
  assert.deepEqual(piped.body, [{ result: "db1" }, { result: "db0" }]);
  const queued = await post(stack, "/multi-exec", [["EVAL", script, 1, "where"], [
    "GET",
    "where",
  ]]);
  assert.deepEqual(queued.body, [{ result: "db1" }, { result: "db0" }]);

  // The same through a function library.
  const library = "#!lua name=kilnselect\n" +
    "redis.register_function('from_db1', function(keys) redis.call('SELECT', 1) " +
    "return redis.call('GET', keys[1]) end)";
  assert.equal((await post(stack, "/", ["FUNCTION", "LOAD", "REPLACE", library])).status, 200);
  const called = await post(stack, "/pipeline", [["FCALL", "from_db1", 1, "where"], [
    "GET",
    "where",
  ]]);
  assert.deepEqual(called.body, [{ result: "db1" }, { result: "db0" }]);

  assert.deepEqual((await post(stack, "/", ["GET", "where"])).body, { result: "db0" });
  for (
    const reply of await Promise.all(
      Array.from({ length: 3 }, () => post(stack, "/multi-exec", [["GET", "where"]])),
    )
  ) {
    assert.deepEqual(reply.body, [{ result: "db0" }]);
  }
  await assertPristine(stack);
});
