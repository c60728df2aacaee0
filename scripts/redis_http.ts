/**
 * CLI for the Upstash-REST-compatible HTTP gateway in front of a TCP `redis-server`, so
 * Kiln's tests and benchmarks, local development and self-hosting users can point
 * `@upstash/redis` at a plain Redis. On start it prints one JSON line,
 * `{"listening":"http://127.0.0.1:PORT"}`, for a parent process to read; SIGINT/SIGTERM
 * close everything and exit 0.
 *
 * ```sh
 * deno task redis:http --port 8079 --redis redis://127.0.0.1:6379 --token <t>
 * ```
 *
 * Flags: `--port` (default 8079, 0 picks a free port), `--hostname` (default 127.0.0.1),
 * `--redis` (default redis://127.0.0.1:6379; with `--cluster`, repeat it for several seed
 * nodes of a Redis Cluster), `--cluster`, `--token` (required, or env
 * `REDIS_HTTP_TOKEN`), `--max-body-bytes` (default 10485760), `--body-timeout` (ms a request body may take,
 * default 30000), `--max-reply-bytes` (default 104857600),
 * `--sse-heartbeat-ms`
 * (default 15000), `--sse-max-buffered-bytes` (default 4194304), `--connections`
 * (shared Redis connections, default 1), `--max-dedicated-connections` (subscriptions and
 * transactions held at once, default 1000), `--allow` (commands the policy refuses that
 * this gateway runs anyway, comma-separated: `FLUSHDB,CONFIG|GET`; repeatable).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseAllowList } from "./_gateway/command_policy.ts";
import { type Gateway, type GatewayOptions, startGateway } from "./_gateway/gateway.ts";

export { type Gateway, type GatewayOptions, startGateway };

function toInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new TypeError(`--${flag} must be an integer, got ${value}`);
  return n;
}

/**
 * Parses command-line flags into gateway options.
 *
 * @param args the arguments after the script name
 * @returns the options for {@linkcode startGateway}
 * @throws {TypeError} on an unknown flag, a bad number or a missing token
 */
export function parseGatewayArgs(args: string[]): GatewayOptions {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      hostname: { type: "string" },
      redis: { type: "string", multiple: true },
      cluster: { type: "boolean" },
      token: { type: "string" },
      "max-body-bytes": { type: "string" },
      "body-timeout": { type: "string" },
      "max-reply-bytes": { type: "string" },
      "sse-heartbeat-ms": { type: "string" },
      "sse-max-buffered-bytes": { type: "string" },
      connections: { type: "string" },
      "max-dedicated-connections": { type: "string" },
      allow: { type: "string", multiple: true },
    },
    strict: true,
  });
  const allow = (values.allow ?? []).flatMap((list) => list.split(","))
    .filter((name) => name.trim() !== "");
  parseAllowList(allow); // refuses a malformed or impossible entry before start-up
  if ((values.redis?.length ?? 0) > 1 && !values.cluster) {
    throw new TypeError("Several --redis URLs are seed nodes of a Redis Cluster: add --cluster");
  }
  const token = values.token ?? Deno.env.get("REDIS_HTTP_TOKEN");
  if (!token) throw new TypeError("--token is required (or set REDIS_HTTP_TOKEN)");
  return {
    port: toInteger("port", values.port) ?? 8079,
    hostname: values.hostname ?? "127.0.0.1",
    redisUrl: values.redis ?? ["redis://127.0.0.1:6379"],
    cluster: values.cluster ?? false,
    token,
    maxBodyBytes: toInteger("max-body-bytes", values["max-body-bytes"]),
    bodyTimeout: toInteger("body-timeout", values["body-timeout"]),
    maxReplyBytes: toInteger("max-reply-bytes", values["max-reply-bytes"]),
    sseHeartbeatMs: toInteger("sse-heartbeat-ms", values["sse-heartbeat-ms"]),
    sseMaxBufferedBytes: toInteger("sse-max-buffered-bytes", values["sse-max-buffered-bytes"]),
    sharedConnections: toInteger("connections", values.connections),
    maxDedicatedConnections: toInteger(
      "max-dedicated-connections",
      values["max-dedicated-connections"],
    ),
    allow,
  };
}

async function main(): Promise<void> {
  let options: GatewayOptions;
  try {
    options = parseGatewayArgs(Deno.args);
  } catch (error) {
    console.error(`redis_http: ${error instanceof Error ? error.message : error}`);
    Deno.exit(2);
  }
  const gateway = await startGateway(options);
  const shutdown = async () => {
    await gateway.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);
  console.log(JSON.stringify({ listening: gateway.url }));
}

if (import.meta.main) await main();
