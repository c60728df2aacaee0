/**
 * The gateway's single-command route (`POST /`) in two builds that differ only in the
 * Redis client: `ours` (the gateway's pipelined RESP connection) and `node-redis` (the
 * `redis` package, bulk strings mapped to bytes so replies stay raw). `bench/redis_http.ts`
 * runs both under the same load to decide whether the gateway should move onto node-redis
 * (issue 11: only if it costs at most 10% of throughput at 64 connections).
 *
 * ```sh
 * deno run -A bench/_redis_http/client_server.ts <ours|node-redis> <port> <redis-url>
 * ```
 *
 * Prints `{"listening": port}` once it serves.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "redis";
import { parseJsonBody, toCommand } from "../../scripts/_gateway/command_rules.ts";
import { SingleRedis } from "../../scripts/_gateway/redis_backend.ts";
import { parseRedisUrl } from "../../scripts/_gateway/redis_url.ts";
import { errorJson, replyToEnvelope } from "../../scripts/_gateway/reply_json.ts";
import type { CommandArgs } from "../../scripts/_gateway/resp_encoder.ts";
import { RedisErrorReply, type RespValue } from "../../scripts/_gateway/resp_parser.ts";

const [kind, port, url] = Deno.args;
const headers = { "content-type": "application/json" };

async function nodeRedisRunner(): Promise<(command: CommandArgs) => Promise<RespValue>> {
  const client = createClient({ url, RESP: 2 })
    .withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  await client.connect();
  return async (command) => {
    try {
      return await client.sendCommand(command.map(String)) as RespValue;
    } catch (error) {
      return new RedisErrorReply((error as Error).message);
    }
  };
}

function oursRunner(): (command: CommandArgs) => Promise<RespValue> {
  const redis = new SingleRedis(parseRedisUrl(url), 1);
  return async (command) => {
    let reply = null as RespValue;
    await redis.run([command], (r) => (reply = r));
    return reply;
  };
}

const run = kind === "node-redis" ? await nodeRedisRunner() : oursRunner();
Deno.serve({
  port: Number(port),
  hostname: "127.0.0.1",
  onListen: () => console.log(JSON.stringify({ listening: Number(port) })),
}, async (request) => {
  const reply = await run(toCommand(parseJsonBody(await request.text())));
  if (reply instanceof RedisErrorReply) {
    return new Response(errorJson(reply.message), { status: 400, headers });
  }
  return new Response(replyToEnvelope(reply, false), { status: 200, headers });
});
