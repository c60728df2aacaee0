/**
 * `--redis` is read once at start-up, so a bad URL fails loudly before the gateway accepts
 * any request, instead of node-redis trying it on the first one.
 */

import assert from "node:assert/strict";
import { startGateway } from "../../scripts/redis_http.ts";

Deno.test("a --redis URL the gateway cannot use is refused at start-up, naming it", async () => {
  const refused = [
    ["not a url", /Invalid Redis URL/],
    ["http://127.0.0.1:6379", /must start with redis:\/\//],
    // node-redis would speak TLS for it, but nothing here tests that: refused.
    ["rediss://127.0.0.1:6379", /must start with redis:\/\//],
    ["redis://127.0.0.1:6379/one", /Invalid Redis database/],
    ["redis://127.0.0.1:6379/-1", /Invalid Redis database/],
  ] as const;
  for (const [url, message] of refused) {
    await assert.rejects(
      async () => await startGateway({ port: 0, redisUrl: url, token: "t" }),
      message,
      url,
    );
  }
  // A cluster has only database 0.
  await assert.rejects(
    async () =>
      await startGateway({
        port: 0,
        redisUrl: "redis://127.0.0.1:7000/2",
        token: "t",
        cluster: true,
      }),
    /only database 0/,
  );
});
