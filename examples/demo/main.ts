/**
 * `deno task demo`: everything Kiln does, on one page. Listens on `PORT`
 * (default 8000) and runs in memory, or on Redis when
 * `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN` are set (Upstash,
 * or Kiln's own gateway: `deno task redis:http`).
 *
 * @module
 */
import { createDemo, redisFromEnv } from "./app.ts";

const port = Number(Deno.env.get("PORT") ?? 8000);
const redis = redisFromEnv();
const demo = await createDemo(redis ? { redis } : {});
const server = Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, demo.app.fetch);
console.log(
  `Kiln demo on http://localhost:${server.addr.port}/ (${redis ? "Redis" : "in memory"})`,
);
console.log(`Dashboard on http://localhost:${server.addr.port}/kiln/ (this machine only)`);

Deno.addSignalListener("SIGINT", async () => {
  await demo.close();
  await server.shutdown();
  Deno.exit(0);
});
