/**
 * Re-dialing after a lost connection, attacked: a fresh connection must switch to the
 * gateway's narrowed ACL user (`script_acl.ts`) before it carries any request, so when
 * the switch fails the request gets 503 and nothing runs as the default user; and while
 * Redis does not answer, concurrent requests share one dial instead of opening one
 * connection each.
 */

import assert from "node:assert/strict";
import { openRedisLink } from "../../scripts/_gateway/redis_link.ts";
import { RedisUnavailableError } from "../../scripts/_gateway/redis_reply.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { gatewayBeside } from "./_gateway_beside.ts";
import { post } from "./_http.ts";

/** Runs `args` with redis-cli against `port`, as the default user, and returns its output. */
async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout, success } = await new Deno.Command("redis-cli", {
    args: ["--no-auth-warning", "-p", String(port), ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(success, `redis-cli ${args.join(" ")}`);
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("a re-dial whose switch to the narrowed ACL user fails runs nothing, as the default user or any other", async () => {
  await using stack = await startRedisStack();
  const port = stack.redisPort;
  assert.deepEqual((await post(stack, "/", ["SET", "before", "1"])).body, { result: "OK" });
  const narrowed = (await cli(port, "ACL", "USERS")).split("\n").find((u) =>
    u.startsWith("kiln-gateway-")
  );
  assert.ok(narrowed, "the gateway runs as its narrowed user");
  // The default user may no longer create the narrowed one, which is gone: the switch fails.
  // (An admin user of the test's own puts the default user's rights back afterwards.)
  await cli(port, "ACL", "SETUSER", "admin", "on", ">admin", "~*", "&*", "+@all");
  await cli(port, "ACL", "DELUSER", narrowed);
  await cli(port, "ACL", "SETUSER", "default", "-acl|setuser");
  await cli(port, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");

  const script = "return redis.call('SET', KEYS[1], '1')";
  const attempts: Array<[string, unknown]> = [
    ["/", ["SET", "during", "1"]],
    ["/", ["EVAL", script, 1, "during:eval"]],
    ["/pipeline", [["SET", "during:pipeline", "1"]]],
    ["/multi-exec", [["SET", "during:multi", "1"]]],
    ["/set/during:path/1", []],
  ];
  for (const [path, body] of attempts) {
    const reply = await post(stack, path, body);
    assert.equal(reply.status, 503, `${path} ${JSON.stringify(body)}`);
    assert.match((reply.body as { error: string }).error, /rejected the handshake/);
  }
  assert.equal(await cli(port, "KEYS", "during*"), "");
  // No connection of the gateway is left open as the default user either.
  const clients = await cli(port, "CLIENT", "LIST");
  assert.equal(clients.split("\n").filter((c) => / user=default /.test(c)).length, 1, clients);

  // Once the switch can succeed again, the next request dials, switches and runs.
  await cli(port, "--user", "admin", "--pass", "admin", "ACL", "SETUSER", "default", "+@all");
  assert.deepEqual((await post(stack, "/", ["SET", "after", "1"])).body, { result: "OK" });
  const users = (await cli(port, "CLIENT", "LIST")).split("\n")
    .filter((c) => !/ cmd=client\|list /.test(c))
    .map((c) => / user=(\S+) /.exec(c)![1]);
  assert.ok(users.length > 0 && users.every((u) => u === narrowed), users.join());
});

Deno.test("while Redis accepts but never answers, requests share one dial per shared connection and dedicated ones stay capped", async () => {
  await using stack = await startRedisStack();
  await using gateway = await gatewayBeside(stack, { maxDedicatedConnections: 5 });
  const via = { ...stack, gatewayUrl: gateway.url };
  assert.deepEqual((await post(via, "/", ["PING"])).body, { result: "PONG" });
  await stack.stopRedis();
  // A Redis that hangs: the port accepts, nothing answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: stack.redisPort });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })().catch(() => {});
  try {
    const requests = [
      ...Array.from({ length: 100 }, () => post(via, "/", ["GET", "k"])),
      ...Array.from({ length: 20 }, () => post(via, "/pipeline", [["GET", "k"]])),
      ...Array.from({ length: 20 }, () => post(via, "/multi-exec", [["GET", "k"]])),
    ];
    // Past the cap, transactions are refused at once, without a dial.
    const settled = await Promise.race([
      Promise.all(requests.slice(125).map((r) => r.then((x) => x.status))),
      new Promise((resolve) => setTimeout(() => resolve("pending"), 3_000)),
    ]);
    assert.deepEqual(settled, Array(15).fill(503));
    // One dial for the 120 plain requests, one per transaction under the cap.
    assert.ok(accepted.length <= 1 + 5, `${accepted.length} connections dialed`);
    // Redis's port goes dark: the dials in progress fail, and their requests with them.
    listener.close();
    for (const conn of accepted.splice(0)) conn.close();
    const statuses = await Promise.all(requests.map((r) => r.then((x) => x.status)));
    assert.ok(statuses.every((s) => s === 503), statuses.join());
  } finally {
    try {
      listener.close();
    } catch {
      // closed above
    }
    for (const conn of accepted) conn.close();
    await accepting;
  }
});

Deno.test("a dial to a Redis that accepts but never answers fails within the handshake timeout and closes its socket", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  /** Accepts one connection, reads what the gateway sends, and answers nothing. */
  const silentlyHold = async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(4096);
    while ((await conn.read(buffer)) !== null) {
      // read the handshake and say nothing
    }
    conn.close();
  };
  try {
    // Without credentials node-redis's own connect() is done once the socket opens, so
    // the gateway's session is what waits; with them, its AUTH inside connect() waits.
    for (const url of [`redis://127.0.0.1:${port}`, `redis://u:p@127.0.0.1:${port}`]) {
      const closedByGateway = silentlyHold();
      const started = performance.now();
      await assert.rejects(
        () => openRedisLink(url, [["ACL", "WHOAMI"]], Infinity, 200),
        (error: unknown) =>
          error instanceof RedisUnavailableError &&
          /did not answer its handshake within 200 ms/.test(error.message),
        url,
      );
      assert.ok(performance.now() - started < 2_000, url);
      await closedByGateway;
    }
  } finally {
    listener.close();
  }
});

Deno.test("Redis restarting mid-transaction and mid-stream fails those requests whole, and the next ones dial afresh", async () => {
  await using stack = await startRedisStack();
  const store = "for i = 1, 20 do redis.call('SET', 'big:' .. i, string.rep('x', 1000 * 1000)) end";
  assert.equal((await post(stack, "/", ["EVAL", store, 0])).status, 200);
  // Idle transaction connections exist before the restart, so a stale one could be reused.
  for (let i = 0; i < 3; i++) {
    assert.equal((await post(stack, "/multi-exec", [["PING"]])).status, 200);
  }

  // A streamed pipeline whose Redis goes away after its first window.
  const gets = Array.from({ length: 20 }, (_, i) => ["GET", `big:${i + 1}`]);
  const streamed = await fetch(`${stack.gatewayUrl}/pipeline`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}` },
    body: JSON.stringify(gets),
  });
  assert.equal(streamed.status, 200);
  const reader = streamed.body!.getReader();
  assert.equal((await reader.read()).done, false);
  // A transaction running a 300 ms script when Redis stops.
  const busy = "local t = redis.call('TIME') local e = t[1] * 1e6 + t[2] + 300000 " +
    "repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] >= e return 1";
  const transaction = post(stack, "/multi-exec", [["EVAL", busy, 0], ["INCR", "n"]]);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await stack.stopRedis();
  // The stream ends in an error, never in a well-formed array missing replies.
  let text = "";
  const decoder = new TextDecoder();
  const ended = await (async () => {
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        text += decoder.decode(r.value);
      }
      return "closed";
    } catch {
      return "errored";
    }
  })();
  assert.equal(ended, "errored", `stream ${ended} after ${text.length} characters`);
  // The transaction either finished before the stop or is a 503; never a partial answer.
  const tx = await transaction;
  if (tx.status === 200) assert.deepEqual(tx.body, [{ result: 1 }, { result: 1 }]);
  else assert.equal(tx.status, 503, JSON.stringify(tx));

  await stack.startRedis();
  for (let i = 0; i < 5; i++) {
    assert.deepEqual((await post(stack, "/multi-exec", [["INCR", "m"]])).body, [{ result: i + 1 }]);
  }
  assert.deepEqual((await post(stack, "/pipeline", [["GET", "m"]])).body, [{ result: "5" }]);
  assert.deepEqual((await post(stack, "/", ["GET", "m"])).body, { result: "5" });
});
