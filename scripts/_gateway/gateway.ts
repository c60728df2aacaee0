/**
 * The gateway's HTTP side: routes Upstash REST requests (`/`, `/pipeline`, `/multi-exec`,
 * `/subscribe/…`, `/psubscribe/…`, and any other path as Upstash's path form of one
 * command, `/set/foo/bar`) onto the Redis behind it (a {@linkcode RedisBackend}). Hot
 * paths write JSON straight to strings; every failure becomes a JSON `{"error": …}` with
 * a 4xx/5xx status, never a crash.
 *
 * @module
 */

import { requestIsAuthorized } from "./bearer_auth.ts";
import { CommandPolicy, parseAllowList } from "./command_policy.ts";
import { HttpError, parseJsonBody, toCommand, toCommandList } from "./command_rules.ts";
import { type RedisBackend, SingleRedis } from "./redis_backend.ts";
import { ClusterRedis } from "./cluster_redis.ts";
import { checkRedisUrl } from "./redis_link.ts";
import {
  type CommandArgs,
  OversizedReply,
  RedisErrorReply,
  RedisUnavailableError,
  type RespValue,
} from "./redis_reply.ts";
import { errorJson, replyToEnvelope, ReplyTooLargeError, utf8ByteLength } from "./reply_json.ts";
import { pipelineResponse, tooLargeEnvelope } from "./reply_stream.ts";
import { openSubscriptionStream, type SubscriptionKind } from "./subscription_stream.ts";
import { GATHER_HEADER, MAX_GATHER_MS } from "../../src/redis/_gather.ts";
import { type BodyLimits, readBodyText } from "./request_body.ts";
import { pathCommand } from "./path_command.ts";

/** Options for {@linkcode startGateway}. */
export interface GatewayOptions {
  /**
   * The TCP Redis to front, e.g. `redis://127.0.0.1:6379`; with `cluster`, one or more
   * seed nodes of the Redis Cluster.
   */
  redisUrl: string | string[];
  /**
   * Front a Redis Cluster: route by hash slot, follow MOVED/ASK, re-read the slot table
   * after a failover.
   * @default {false}
   */
  cluster?: boolean;
  /** The bearer token clients must send. */
  token: string;
  /**
   * Port to listen on; `0` picks a free one.
   * @default {8079}
   */
  port?: number;
  /**
   * Address to listen on.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * Largest request body accepted; larger bodies get 413.
   * @default {10485760}
   */
  maxBodyBytes?: number;
  /**
   * How long a request body may take to arrive, in milliseconds; a client that stalls or
   * trickles it (slowloris) gets 408 after that.
   * @default {30000}
   */
  bodyTimeout?: number;
  /**
   * Largest response body: a reply that would pass it is answered with an error naming
   * the limit (in a pipeline, in that command's place). Upstash's largest record is
   * 100 MB, so a GET of one must fit.
   * @default {104857600}
   */
  maxReplyBytes?: number;
  /**
   * Interval of SSE keep-alive comments, which also reveal disconnected subscribers.
   * @default {15000}
   */
  sseHeartbeatMs?: number;
  /**
   * How many bytes of events may wait for one slow SSE subscriber before its stream is
   * dropped (as Redis drops a pub/sub client past its output buffer limit).
   * @default {4194304}
   */
  sseMaxBufferedBytes?: number;
  /**
   * Number of multiplexed Redis connections shared by plain commands and pipelines.
   * @default {1}
   */
  sharedConnections?: number;
  /**
   * Most Redis connections held for subscriptions and transactions together (each takes
   * a connection of its own); past it such requests get 503 until one ends, so a token
   * holder opening streams cannot use up Redis's `maxclients` (10000 by default) and lock
   * every other client out.
   * @default {1000}
   */
  maxDedicatedConnections?: number;
  /**
   * Commands the command policy refuses that this gateway runs anyway: `FLUSHDB`, or one
   * subcommand as `CONFIG|GET`. Commands that block or change a shared connection cannot
   * be allowed.
   * @default {[]}
   */
  allow?: string[];
}

/** A running gateway. */
export interface Gateway extends AsyncDisposable {
  /** Base URL to give `@upstash/redis`, e.g. `http://127.0.0.1:8079`. */
  readonly url: string;
  /** The port actually bound. */
  readonly port: number;
  /** Ends subscriptions, stops the server and closes every Redis connection. */
  close(): Promise<void>;
}

const JSON_HEADERS = { "content-type": "application/json" };
const UNAUTHORIZED_HEADERS = { ...JSON_HEADERS, "www-authenticate": 'Bearer realm="redis"' };
const BODY_PATHS = new Set(["/", "/pipeline", "/multi-exec"]);
/** Replies up to this size are always held whole (see `holdLimit`). */
const MIN_HELD_REPLY_BYTES = 8 * 1024 * 1024;
/** The methods Upstash answers a path-form command on. */
const PATH_FORM_METHODS = new Set(["GET", "HEAD", "POST", "PUT"]);

function jsonResponse(body: string, status: number): Response {
  return new Response(body, { status, headers: JSON_HEADERS });
}

function errorResponse(error: unknown): Response {
  if (error instanceof HttpError) return jsonResponse(errorJson(error.message), error.status);
  if (error instanceof RedisUnavailableError) return jsonResponse(errorJson(error.message), 503);
  console.error("redis_http: unexpected error", error);
  return jsonResponse(errorJson("Internal gateway error"), 500);
}

/** @returns the path of an absolute request URL, without query string or trailing slash */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  let end = url.indexOf("?", start);
  if (end < 0) end = url.length;
  if (end - start > 1 && url.charCodeAt(end - 1) === 47) end--;
  return url.slice(start, end);
}

/**
 * The gathering window a subscription asked for with `Kiln-Gather-Ms` (Kiln's own
 * header: Upstash ignores it), 0 when absent.
 *
 * @throws {HttpError} 400 unless it is a whole number of ms from 0 to {@linkcode MAX_GATHER_MS}
 */
function gatherWindow(header: string | null): number {
  if (header === null) return 0;
  // Digits only: no sign, fraction, exponent or list (a repeated header arrives joined by ", ").
  if (/^[0-9]{1,4}$/.test(header) && Number(header) <= MAX_GATHER_MS) return Number(header);
  throw new HttpError(
    400,
    `Kiln-Gather-Ms must be a whole number of milliseconds from 0 to ${MAX_GATHER_MS}`,
  );
}

/** Validates options the way the CLI and tests pass them. */
function validateOptions(options: GatewayOptions): void {
  if (typeof options.token !== "string" || options.token.length === 0) {
    throw new TypeError("A non-empty token is required");
  }
  const max = options.maxBodyBytes;
  if (max !== undefined && (!Number.isInteger(max) || max <= 0)) {
    throw new RangeError(`maxBodyBytes must be a positive integer, got ${max}`);
  }
  const reply = options.maxReplyBytes;
  if (reply !== undefined && (!Number.isInteger(reply) || reply < 1024)) {
    throw new RangeError(`maxReplyBytes must be an integer of at least 1024, got ${reply}`);
  }
  const buffered = options.sseMaxBufferedBytes;
  if (buffered !== undefined && (!Number.isInteger(buffered) || buffered <= 0)) {
    throw new RangeError(`sseMaxBufferedBytes must be a positive integer, got ${buffered}`);
  }
  const bodyTimeout = options.bodyTimeout;
  if (bodyTimeout !== undefined && (!Number.isInteger(bodyTimeout) || bodyTimeout <= 0)) {
    throw new RangeError(`bodyTimeout must be a positive integer, got ${bodyTimeout}`);
  }
  const dedicated = options.maxDedicatedConnections;
  if (dedicated !== undefined && (!Number.isInteger(dedicated) || dedicated <= 0)) {
    throw new RangeError(`maxDedicatedConnections must be a positive integer, got ${dedicated}`);
  }
  const port = options.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${port}`);
  }
}

/**
 * Starts an Upstash-REST-compatible gateway in front of a TCP Redis.
 *
 * @param options where to listen and which Redis to front
 * @returns the running gateway
 * @throws {TypeError} when the token or Redis URL is invalid
 *
 * @example Run a gateway in-process
 * ```ts ignore
 * const gateway = await startGateway({ port: 0, redisUrl: "redis://127.0.0.1:6379", token: "t" });
 * const res = await fetch(gateway.url, {
 *   method: "POST",
 *   headers: { authorization: "Bearer t" },
 *   body: JSON.stringify(["PING"]),
 * });
 * console.log(await res.json()); // { result: "PONG" }
 * await gateway.close();
 * ```
 */
export function startGateway(options: GatewayOptions): Promise<Gateway> {
  validateOptions(options);
  const endpoints = [options.redisUrl].flat();
  endpoints.forEach(checkRedisUrl);
  if (endpoints.length !== 1 && !options.cluster) {
    throw new TypeError("Several Redis URLs are seed nodes of a cluster: add --cluster");
  }
  const expectedAuthorization = `Bearer ${options.token}`;
  const bodyLimits: BodyLimits = {
    maxBytes: options.maxBodyBytes ?? 10 * 1024 * 1024,
    timeout: options.bodyTimeout ?? 30_000,
  };
  const maxReplyBytes = options.maxReplyBytes ?? 100 * 1024 * 1024;
  const heartbeatMs = options.sseHeartbeatMs ?? 15_000;
  // Redis's wire format can take up to twice the bytes of the JSON it becomes (":1\r\n"
  // is "1,"), so a reply is held whole up to twice the response limit and dropped past
  // it; the JSON is measured against the limit itself. The gateway's own reads (COMMAND
  // DOCS is about 170 KB on Redis 7.0, CLUSTER SLOTS grows with the cluster) must fit
  // whatever the limit, or a small one would stop it from ever starting.
  const holdLimit = Math.max(2 * maxReplyBytes + 1024, MIN_HELD_REPLY_BYTES);
  const backend: RedisBackend = options.cluster
    ? new ClusterRedis(endpoints, options.sharedConnections ?? 1, holdLimit)
    : new SingleRedis(endpoints[0], options.sharedConnections ?? 1, holdLimit);
  const allowed = parseAllowList(options.allow ?? []);
  const streams = new Set<() => void>();
  const maxDedicated = options.maxDedicatedConnections ?? 1000;
  /** Subscriptions being opened and transactions running, each on its own connection. */
  let dedicatedBusy = 0;

  /**
   * Runs `use` on a dedicated connection's budget.
   *
   * @throws {HttpError} 503 when subscriptions and transactions hold `maxDedicated`
   */
  async function withDedicated<T>(use: () => Promise<T>): Promise<T> {
    if (streams.size + dedicatedBusy >= maxDedicated) {
      throw new HttpError(
        503,
        `The gateway holds its limit of ${maxDedicated} Redis connections for ` +
          `subscriptions and transactions; try again when one ends`,
      );
    }
    dedicatedBusy++;
    try {
      return await use();
    } finally {
      dedicatedBusy--;
    }
  }

  // The policy comes from the Redis behind the gateway, so it is read from the first
  // connection that works, before any command runs; while Redis is down requests get 503.
  let policy: CommandPolicy | undefined;
  let loadingPolicy: Promise<CommandPolicy> | undefined;
  function commandPolicy(): CommandPolicy | Promise<CommandPolicy> {
    if (policy !== undefined) return policy;
    loadingPolicy ??= (async () => {
      const [table, docs] = await backend.describe();
      let loaded: CommandPolicy;
      try {
        loaded = CommandPolicy.fromRedis(table, docs, allowed);
      } catch (error) {
        throw new RedisUnavailableError((error as Error).message, { cause: error });
      }
      const unnarrowed = await backend.narrowScripts(loaded.denied());
      if (unnarrowed !== undefined) {
        console.error(
          `redis_http: scripts run as the gateway's own Redis user, so they can call ` +
            `commands the policy refuses (${unnarrowed}); restrict that user with an ACL`,
        );
      }
      return (policy = loaded);
    })().finally(() => (loadingPolicy = undefined));
    return loadingPolicy;
  }

  /** @throws {HttpError} 400 naming the first command the policy refuses */
  async function checkPolicy(commands: ReadonlyArray<CommandArgs>, batch: boolean) {
    const current = policy ?? await commandPolicy();
    for (let i = 0; i < commands.length; i++) {
      const refused = current.refusal(commands[i]);
      if (refused !== undefined) {
        throw new HttpError(400, batch ? `Command ${i}: ${refused}` : refused);
      }
    }
  }

  async function runSingle(
    request: Request,
    base64: boolean,
    path: string,
  ): Promise<Response> {
    const command = path === "/"
      ? toCommand(parseJsonBody(await readBodyText(request, bodyLimits)))
      : await pathCommand(request, path, bodyLimits);
    await checkPolicy([command], false);
    let reply = null as RespValue;
    await backend.run([command], (r) => (reply = r));
    if (reply instanceof RedisErrorReply) return jsonResponse(errorJson(reply.message), 400);
    return jsonResponse(limitedEnvelope(reply, base64), 200);
  }

  /**
   * @returns `{"result":…}` for `reply`
   * @throws {HttpError} 400 when it would pass `maxReplyBytes`
   */
  function limitedEnvelope(reply: RespValue, base64: boolean): string {
    return limited(() => replyToEnvelope(reply, base64, maxReplyBytes));
  }

  /** @returns an array of one envelope per reply, as `/multi-exec` answers */
  function envelopeArray(replies: RespValue[], base64: boolean): string {
    let out = "[";
    for (let i = 0; i < replies.length; i++) {
      if (i > 0) out += ",";
      out += replyToEnvelope(replies[i], base64, maxReplyBytes - out.length);
    }
    return out + "]";
  }

  /**
   * @param build writes a body, throwing {@linkcode ReplyTooLargeError} once it is known
   *   to pass `maxReplyBytes`
   * @throws {HttpError} 400 when the body passes `maxReplyBytes`
   */
  function limited(build: () => string): string {
    try {
      const body = build();
      if (body.length * 3 <= maxReplyBytes || utf8ByteLength(body) <= maxReplyBytes) return body;
    } catch (error) {
      if (!(error instanceof ReplyTooLargeError)) throw error;
    }
    throw new HttpError(400, JSON.parse(tooLargeEnvelope(maxReplyBytes)).error);
  }

  async function runPipeline(request: Request, base64: boolean): Promise<Response> {
    const commands = toCommandList(parseJsonBody(await readBodyText(request, bodyLimits)));
    await checkPolicy(commands, true);
    return await pipelineResponse(backend, commands, base64, maxReplyBytes);
  }

  async function runTransaction(request: Request, base64: boolean): Promise<Response> {
    const commands = toCommandList(parseJsonBody(await readBodyText(request, bodyLimits)));
    await checkPolicy(commands, true);
    const replies = await withDedicated(() => backend.transaction(commands));
    const exec = replies[replies.length - 1];
    if (exec instanceof RedisErrorReply) {
      // EXECABORT: a command was refused while queueing, so nothing ran. Say which.
      const queued = replies.find((r, i) => i > 0 && r instanceof RedisErrorReply);
      const detail = queued instanceof RedisErrorReply && queued !== exec
        ? `${exec.message.replace(/\.$/, "")}: ${queued.message}`
        : exec.message;
      return jsonResponse(errorJson(detail), 400);
    }
    if (exec instanceof OversizedReply) limitedEnvelope(exec, base64); // throws: too large
    if (!Array.isArray(exec)) {
      return jsonResponse(errorJson("Transaction was aborted"), 409);
    }
    return jsonResponse(limited(() => envelopeArray(exec, base64)), 200);
  }

  async function runSubscription(
    request: Request,
    kind: SubscriptionKind,
    rawTarget: string,
    completed: Promise<void>,
  ): Promise<Response> {
    let target: string;
    try {
      target = decodeURIComponent(rawTarget);
    } catch {
      throw new HttpError(400, "Channel name is not valid percent-encoding");
    }
    if (target.length === 0) throw new HttpError(400, "Channel name is empty");
    const gatherMs = gatherWindow(request.headers.get(GATHER_HEADER));
    await request.body?.cancel().catch(() => {});
    // Once open, the stream counts in `streams` until it ends.
    return await withDedicated(async () =>
      openSubscriptionStream(
        await backend.subscriber(kind === "subscribe" ? target : undefined),
        kind,
        target,
        completed,
        heartbeatMs,
        streams,
        options.sseMaxBufferedBytes,
        gatherMs,
      )
    );
  }

  async function handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    try {
      if (!requestIsAuthorized(request, expectedAuthorization)) {
        return new Response(errorJson("Unauthorized: missing or invalid bearer token"), {
          status: 401,
          headers: UNAUTHORIZED_HEADERS,
        });
      }
      const path = pathOf(request.url);
      const base64 = request.headers.get("upstash-encoding")?.toLowerCase() === "base64";
      const isSubscription = path.startsWith("/subscribe") || path.startsWith("/psubscribe");
      if (!BODY_PATHS.has(path) && !isSubscription) {
        if (!PATH_FORM_METHODS.has(request.method)) {
          return jsonResponse(errorJson(`Method ${request.method} not allowed`), 405);
        }
        return await runSingle(request, base64, path);
      }
      if (request.method !== "POST") {
        return jsonResponse(errorJson(`Method ${request.method} not allowed; use POST`), 405);
      }
      switch (path) {
        case "/":
          return await runSingle(request, base64, path);
        case "/pipeline":
          return await runPipeline(request, base64);
        case "/multi-exec":
          return await runTransaction(request, base64);
      }
      const kind = path.startsWith("/subscribe") ? "subscribe" : "psubscribe";
      if (path.length > kind.length + 1 && path[kind.length + 1] !== "/") {
        return jsonResponse(errorJson(`Not found: ${path}`), 404);
      }
      return await runSubscription(request, kind, path.slice(kind.length + 2), info.completed);
    } catch (error) {
      return errorResponse(error);
    }
  }

  return new Promise((resolve, reject) => {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        port: options.port ?? 8079,
        hostname: options.hostname ?? "127.0.0.1",
        onListen() {},
        onError: errorResponse,
      }, handle);
    } catch (error) {
      reject(error);
      return;
    }
    const { hostname, port } = server.addr;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        for (const end of [...streams]) end();
        await server.shutdown();
        await backend.close();
      })();
      return closing;
    };
    resolve({ url: `http://${host}:${port}`, port, close, [Symbol.asyncDispose]: close });
  });
}
