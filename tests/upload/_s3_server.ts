/**
 * A tus server on `S3Store` in a process of its own, for tests that need the
 * store's process set up differently from the test's (`HTTP_PROXY`, for the
 * virtual-host test). Run with one JSON argument, the store's options;
 * prints `{ "port": <n> }` once listening and serves until killed.
 */
import { Hono } from "hono";
import { uploads } from "../../src/upload/mod.ts";
import { S3Store } from "../../src/upload/s3/mod.ts";

const store = new S3Store(JSON.parse(Deno.args[0]));
const app = new Hono().route("/files", uploads({ store, maxSize: 1 << 30 }));
Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(JSON.stringify({ port })),
}, app.fetch);
