import assert from "node:assert/strict";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import { connectionHeartbeat } from "../../src/realtime/_scripts.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { sign, startServer } from "./_support/server.ts";
import { openRaw, rawUpgrade, TestClient } from "./_support/ws_client.ts";

/** Upgrades and keeps the connection open; resolves the status and, on 101, the socket. */
async function hold(url: string, token: string): Promise<{ status: number; conn?: Deno.TcpConn }> {
  try {
    return { status: 101, conn: await openRaw(url, token) };
  } catch (error) {
    const status = Number(String((error as Error).message).match(/HTTP\/1\.1 (\d+)/)?.[1]);
    if (!status) throw error;
    return { status };
  }
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!condition()) throw new Error(`Timed out waiting until ${what}`);
}

Deno.test("simultaneous upgrades of one user never exceed maxConnectionsPerUser; the rest get 429", async () => {
  await using server = startServer({ hub: { maxConnectionsPerUser: 3 } });
  const token = await sign("alice");
  const attempts = await Promise.all(Array.from({ length: 20 }, () => hold(server.url, token)));
  try {
    const statuses = attempts.map((a) => a.status).sort();
    assert.deepEqual(statuses, [...Array(3).fill(101), ...Array(17).fill(429)]);
    await waitUntil(() => server.hub.size === 3, "three connections are attached");

    const refused = await rawUpgrade(server.url, {
      Origin: "https://app.test",
      "Sec-WebSocket-Protocol": `kiln.v1, bearer.${token}`,
    });
    assert.equal(refused.status, 429);
    assert.match(refused.body, /Too many connections for this user/);
    // Another user is not affected.
    await using _bob = await TestClient.connect(server.url, await sign("bob"));
    assert.equal(server.hub.size, 4);
  } finally {
    for (const attempt of attempts) attempt.conn?.close();
  }
});

Deno.test("a closed connection frees its slot for the user's next one", async () => {
  const closed: string[] = [];
  await using server = startServer({
    hub: { maxConnectionsPerUser: 2 },
    setup: (hub) => hub.use({ onClose: (connection) => void closed.push(connection.user.id) }),
  });
  const token = await sign("alice");
  const first = await TestClient.connect(server.url, token);
  await using _second = await TestClient.connect(server.url, token);
  assert.equal((await hold(server.url, token)).status, 429);
  await first.close();
  await waitUntil(() => closed.length === 1, "the first connection closed");
  await using _third = await TestClient.connect(server.url, token);
  assert.equal(server.hub.size, 2);
});

Deno.test("maxConnectionsPerUser must be a positive integer or Infinity", () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => startServer({ hub: { maxConnectionsPerUser: bad } }), RangeError);
  }
});

Deno.test("clients that hang up right after their 101 give their slots back, and Deno.serve still shuts down", async () => {
  // The clock never moves, so no slot can come back through the admission timeout: only
  // through the hub processing each close.
  const clock = new ManualClock(Date.now());
  const server = startServer({ clock, hub: { maxConnectionsPerUser: 1 } });
  try {
    const token = await sign("alice", { now: clock.now() });
    for (let i = 0; i < 5; i++) {
      const conn = (await holdSoon(server.url, token)).conn!;
      conn.close(); // hangs up with the 101 (and perhaps the welcome) unread
    }
    await waitUntil(() => server.hub.size === 0, "the hub processed every close");
    const last = await holdSoon(server.url, token);
    assert.equal(last.status, 101);
    last.conn!.close();
    await waitUntil(() => server.hub.size === 0, "the last close was processed");
  } finally {
    // A graceful shutdown that waits forever would hang the whole suite: bound it, and fail.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      server.close().then(() => "closed"),
      new Promise<string>((resolve) => timer = setTimeout(() => resolve("still waiting"), 10_000)),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, "closed", "Deno.serve's shutdown finished");
  }
});

// The admission timeout (a slot whose socket never opens goes back) is tested on Node in
// node_test.ts, where `ws` really drops such a handshake. Its Deno variant (a client that
// hangs up *before* reading its 101) cannot run here: when Deno.upgradeWebSocket() is called
// after an await (authentication always comes first) for a client that has already gone,
// Deno 2.9 never opens the socket, fires no event on it, and Deno.serve's graceful shutdown()
// waits for it forever. Bare Hono hangs the same way with any await before its upgrade, and a
// plain Deno.serve handler too; closing the CONNECTING socket does not help, and
// request.signal is not aborted. Kiln's slot still comes back through the admission timeout;
// the server's shutdown is the application's, so docs/WEBSOCKET_AUTH.md says to bound it.

/** Retries while a release is still on its way to Redis (it follows the close). */
async function holdSoon(url: string, token: string) {
  for (let i = 0; i < 100; i++) {
    const attempt = await hold(url, token);
    if (attempt.status === 101) return attempt;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("Never got a slot back");
}

Deno.test("RedisFanout: the per-user cap holds across instances, racing upgrades included, and a crashed instance's slots come back", async (t) => {
  await using stack = await startRedisStack();
  const name = `t${crypto.randomUUID().slice(0, 8)}`;
  const clockA = new ManualClock(Date.now()); // never advanced: instance A will "crash"
  const clockB = new ManualClock(Date.now());
  const fanout = (clock: ManualClock) =>
    new RedisFanout({ redis: stack.newRedis(), prefix: name, clock, onError: () => {} });
  await using a = startServer({ hub: { fanout: fanout(clockA), maxConnectionsPerUser: 3 } });
  await using b = startServer({ hub: { fanout: fanout(clockB), maxConnectionsPerUser: 3 } });
  const token = await sign("alice");
  const open: Deno.TcpConn[] = [];
  const size = () => a.hub.size + b.hub.size;
  try {
    await t.step(
      "twelve simultaneous upgrades over two instances: exactly three succeed",
      async () => {
        const attempts = await Promise.all(
          Array.from({ length: 12 }, (_, i) => hold(i % 2 ? a.url : b.url, token)),
        );
        for (const attempt of attempts) if (attempt.conn) open.push(attempt.conn);
        const statuses = attempts.map((attempt) => attempt.status).sort();
        assert.deepEqual(statuses, [...Array(3).fill(101), ...Array(9).fill(429)]);
        await waitUntil(() => size() === 3, "three connections are attached");
      },
    );

    await t.step("closed connections give their slots back on every instance", async () => {
      for (const conn of open.splice(0)) conn.close();
      await waitUntil(() => size() === 0, "every connection closed");
      for (let i = 0; i < 3; i++) open.push((await holdSoon(a.url, token)).conn!);
      assert.equal((await hold(b.url, token)).status, 429);
    });

    await t.step("a crashed instance's slots lapse with its heartbeat", async () => {
      // A holds three and stops heartbeating; B's clock moves past A's deadline.
      clockB.advance(31_000);
      const fresh = await hold(b.url, token);
      assert.equal(fresh.status, 101);
      open.push(fresh.conn!);
    });
  } finally {
    for (const conn of open) conn.close();
  }
});

Deno.test("RedisFanout: a live instance's heartbeat keeps its slots counted however long its connections last", async () => {
  await using stack = await startRedisStack();
  const name = `t${crypto.randomUUID().slice(0, 8)}`;
  const heartbeatSha = await sha1(connectionHeartbeat.source);
  let heartbeats = 0;
  const watched: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const body = typeof init?.body === "string" ? init.body : "";
    if (body.includes(heartbeatSha) || body.includes("connectionHeartbeat")) heartbeats++;
    return response;
  };
  const start = Date.now();
  const clockA = new ManualClock(start);
  const clockB = new ManualClock(start);
  await using a = startServer({
    hub: {
      maxConnectionsPerUser: 1,
      fanout: new RedisFanout({
        redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: watched }),
        prefix: name,
        clock: clockA,
        onError: () => {},
      }),
    },
  });
  await using b = startServer({
    hub: {
      maxConnectionsPerUser: 1,
      fanout: new RedisFanout({
        redis: stack.newRedis(),
        prefix: name,
        clock: clockB,
        onError: () => {},
      }),
    },
  });
  const token = await sign("alice");
  const held = await hold(a.url, token);
  try {
    assert.equal(held.status, 101);
    // Two minutes pass on both instances; A renews its deadline every 10 s.
    for (let i = 0; i < 12; i++) {
      const before = heartbeats;
      clockA.advance(10_000);
      clockB.advance(10_000);
      await waitUntil(() => heartbeats > before, "A sent a heartbeat");
    }
    assert.equal((await hold(b.url, token)).status, 429, "A's slot still counts on B");
  } finally {
    held.conn?.close();
  }
});

/** The SHA-1 Redis knows a script by, as the script runner computes it. */
async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("RedisFanout: with Redis out of reach the cap falls back to this instance's own count, and says so", async () => {
  await using stack = await startRedisStack();
  const errors: string[] = [];
  await using server = startServer({
    hub: {
      maxConnectionsPerUser: 1,
      fanout: new RedisFanout({
        redis: stack.newRedis(),
        prefix: `t${crypto.randomUUID().slice(0, 8)}`,
        resubscribeDelay: { min: 50, max: 400 },
        onError: () => {},
      }),
      onError: (_error, context) => void errors.push(context),
    },
  });
  await stack.stopGateway();
  const token = await sign("alice");
  const first = await hold(server.url, token);
  try {
    assert.equal(first.status, 101, "admitted on the local count");
    assert.ok(errors.includes("connection slots"), JSON.stringify(errors));
    assert.equal((await hold(server.url, token)).status, 429, "the local count still caps");
  } finally {
    first.conn?.close();
  }
});

Deno.test("RedisFanout: with every request sent twice, a slot is taken and given back once", async () => {
  await using stack = await startRedisStack();
  const twice: typeof fetch = async (input, init) => {
    const first = await fetch(input, { ...init, signal: undefined });
    await first.body?.cancel();
    return await fetch(input, init);
  };
  const closed: string[] = [];
  await using server = startServer({
    hub: {
      maxConnectionsPerUser: 2,
      fanout: new RedisFanout({
        redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: twice }),
        prefix: `t${crypto.randomUUID().slice(0, 8)}`,
        onError: () => {},
      }),
    },
    setup: (hub) => hub.use({ onClose: (connection) => void closed.push(connection.id) }),
  });
  const token = await sign("alice");
  const first = await TestClient.connect(server.url, token);
  await using _second = await TestClient.connect(server.url, token);
  assert.equal((await hold(server.url, token)).status, 429);
  await first.close();
  await waitUntil(() => closed.length === 1, "the first connection closed");
  const third = await holdSoon(server.url, token);
  third.conn?.close();
});
