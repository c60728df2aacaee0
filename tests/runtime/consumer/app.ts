/**
 * A user's app on Node, as the consumer step of `deno task test:runtime` builds
 * it: `@kiln/core` installed from its `npm pack` tarball beside the user's own
 * `hono` and `@upstash/redis`. `tsc --noEmit` must accept it unchanged (strict,
 * under node16 and bundler resolution), then Node runs it: uploads through
 * `app.route("/files", uploads(…))`, a WebSocket through `app.get("/ws",
 * realtime(…))` with `@hono/node-ws`, and a queue job through the user's
 * `@upstash/redis` client against the runner's gateway.
 *
 * It exits 0 only if every step did what it should; each await on the network is
 * bounded, so a hang fails instead of stalling the runner.
 *
 * This folder has no package.json and is excluded in deno.json: it is compiled
 * by the consumer's own `tsc` against its own node_modules, never by Deno.
 */
import { createHmac } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { Hono } from "hono";
import { Redis } from "@upstash/redis";
import { WebSocket } from "ws";
import * as v from "valibot";
import { KilnError } from "@kiln/core/errors";
import { defineJob, Queue, RedisBackend, silentLogger, Worker } from "@kiln/core/queue";
import { Hub, jwtAuth, realtime } from "@kiln/core/realtime";
import { MemoryStore, uploads } from "@kiln/core/upload";
import { uploadFile } from "@kiln/core/upload/client";

const SECRET = "consumer-secret-consumer-secret-42";
/** The longest any one step may wait for the network. */
const STEP_MS = 5_000;

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through deno task test:runtime`);
  return value;
}

/** An HS256 JWT, signed by hand so the app needs no JWT library of its own. */
function sign(sub: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = `${part({ alg: "HS256", typ: "JWT" })}.${
    part({ sub, exp: Math.floor(Date.now() / 1000) + 600 })
  }`;
  return `${body}.${createHmac("sha256", SECRET).update(body).digest("base64url")}`;
}

function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${STEP_MS} ms`)), STEP_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function main(): Promise<void> {
  const hub = new Hub({ onError: () => {} });
  const store = new MemoryStore();
  const completed: string[] = [];

  const app = new Hono();
  const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
  // The two lines issue #10 is about: both failed to type-check with a second hono.
  app.get(
    "/ws",
    realtime(hub, { upgradeWebSocket, auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"] }) }),
  );
  app.route(
    "/files",
    uploads({ store, maxSize: 1024 * 1024, onComplete: (done) => void completed.push(done.id) }),
  );

  // serve() may return an HTTP/2 server type; this one is plain HTTP/1.1.
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }) as HttpServer;
  injectWebSocket(server);
  await within("listen", new Promise((resolve) => server.once("listening", resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    // Uploads: Kiln's own client through the user's Hono router.
    const bytes = new TextEncoder().encode("hello from a consumer ".repeat(100));
    const result = await within(
      "upload",
      uploadFile(new Blob([bytes]), { endpoint: `${base}/files`, chunkSize: 512 }),
    );
    check(completed.length === 1, `onComplete ran ${completed.length} times`);
    check(result.url.startsWith(`${base}/files/`), `unexpected upload URL ${result.url}`);
    console.log(`upload: ${bytes.length} bytes through app.route("/files", uploads(…))`);

    // Realtime: a token in the subprotocol, a subscription, a broadcast.
    const socket = new WebSocket(`${base.replace("http", "ws")}/ws`, [
      "kiln.v1",
      `bearer.${sign("ada")}`,
    ]);
    const messages: Record<string, unknown>[] = [];
    let wake = () => {};
    socket.on("message", (data) => {
      messages.push(JSON.parse(String(data)));
      wake();
    });
    const next = (type: string) =>
      within(
        `a ${type} frame`,
        new Promise<Record<string, unknown>>((resolve) => {
          const look = () => {
            const index = messages.findIndex((message) => message.type === type);
            if (index >= 0) resolve(messages.splice(index, 1)[0]);
            else wake = look;
          };
          look();
        }),
      );
    const welcome = await next("welcome");
    check((welcome.user as { id?: string })?.id === "ada", "welcome names another user");
    socket.send(JSON.stringify({ type: "subscribe", channel: "news" }));
    await next("subscribed");
    await hub.broadcast("news", "posted", { id: 7 });
    const message = await next("message");
    check((message.data as { id?: number })?.id === 7, "the broadcast did not arrive");
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.close();
    await within("close", closed);
    console.log(`realtime: welcome, subscribe and broadcast through app.get("/ws", realtime(…))`);

    // Redis: the user's @upstash/redis client passed as { redis }.
    const redis = new Redis({ url: env("KILN_REDIS_URL"), token: env("KILN_REDIS_TOKEN") });
    const prefix = `consumer-${crypto.randomUUID()}`;
    const queue = new Queue({ backend: new RedisBackend({ redis, prefix }) });
    const seen: number[] = [];
    const job = defineJob({
      name: "record",
      schema: v.object({ n: v.number() }),
      handle: (payload) => void seen.push(payload.n),
    });
    await within("dispatch", queue.dispatch(job, { n: 1 }));
    const summary = await within(
      "drain",
      new Worker(queue, { jobs: [job], logger: silentLogger }).drain(),
    );
    check(summary.completed === 1 && seen[0] === 1, `drain completed ${summary.completed}`);
    // A wrong token must be told apart from a command error, through the user's client.
    const wrong = new Redis({ url: env("KILN_REDIS_URL"), token: "wrong-token" });
    const refused = await new Queue({ backend: new RedisBackend({ redis: wrong, prefix }) })
      .dispatch(job, { n: 2 }).then(() => undefined, (error: unknown) => error);
    check(
      refused instanceof KilnError && refused.code === "REDIS_UNAUTHORIZED",
      `a wrong token gave ${String(refused)}`,
    );
    console.log("redis: a job dispatched and drained through the user's @upstash/redis client");
  } finally {
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

await main();
