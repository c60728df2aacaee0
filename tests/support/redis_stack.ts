/**
 * Test harness: a private `redis-server` on a free port with the Upstash REST gateway
 * (`scripts/redis_http.ts`) in front of it, both as subprocesses, so tests talk to a real
 * Redis through the same HTTP protocol production uses, and Deno's sanitizers see no
 * stray sockets in the test process.
 *
 * @example Use it in a test
 * ```ts ignore
 * import { startRedisStack } from "../support/redis_stack.ts";
 *
 * Deno.test("a value written is read back", async () => {
 *   await using stack = await startRedisStack();
 *   await stack.redis.set("k", "v");
 *   assert.equal(await stack.redis.get("k"), "v");
 * });
 * ```
 *
 * @module
 */

import { Redis } from "@upstash/redis";

/** Options for {@linkcode startRedisStack}; all optional. */
export interface RedisStackOptions {
  /**
   * Largest request body the gateway accepts.
   * @default {10485760}
   */
  maxBodyBytes?: number;
  /**
   * Largest response body the gateway sends.
   * @default {104857600}
   */
  maxReplyBytes?: number;
  /**
   * Interval of the gateway's SSE keep-alive comments.
   * @default {15000}
   */
  sseHeartbeatMs?: number;
  /**
   * How far one SSE subscriber may fall behind, in bytes, before the gateway drops it.
   * @default {4194304}
   */
  sseMaxBufferedBytes?: number;
  /**
   * Commands the gateway's policy refuses that this stack's gateway runs anyway
   * (`--allow`): test setups empty the database and the script cache between cases.
   * @default {["FLUSHDB", "SCRIPT|FLUSH"]}
   */
  allow?: string[];
}

/** A running redis-server and gateway, owned by one test or suite. */
export interface RedisStack extends AsyncDisposable {
  /** An `@upstash/redis` client pointed at the gateway (no telemetry, no retries). */
  readonly redis: Redis;
  /** The gateway's base URL, e.g. `http://127.0.0.1:41234`. */
  readonly gatewayUrl: string;
  /** The bearer token the gateway expects. */
  readonly token: string;
  /** The TCP URL of the redis-server, e.g. `redis://127.0.0.1:41233`. */
  readonly redisUrl: string;
  /** The redis-server's port; it stays the same across {@linkcode stopRedis}/{@linkcode startRedis}. */
  readonly redisPort: number;
  /**
   * The current gateway subprocess, for tests that signal it; after
   * {@linkcode startGateway} it is the new process.
   */
  readonly gatewayProcess: Deno.ChildProcess;
  /** A fresh `@upstash/redis` client for this stack, for tests that need several. */
  newRedis(): Redis;
  /** Stops the redis-server (the gateway keeps running). Its data is lost. */
  stopRedis(): Promise<void>;
  /** Starts the redis-server again on the same port, empty. */
  startRedis(): Promise<void>;
  /**
   * Stops the gateway (the redis-server keeps running, with its data), by
   * default with SIGKILL, as a crash would: open SSE streams and requests
   * break without a goodbye. Does nothing when it is already stopped.
   *
   * @param signal the signal to send; `"SIGTERM"` for an orderly shutdown
   */
  stopGateway(signal?: Deno.Signal): Promise<void>;
  /**
   * Starts the gateway again on the same port, so {@linkcode gatewayUrl} and
   * every client built from it stay valid, and waits until it listens. Does
   * nothing when the gateway is running.
   *
   * @throws {Error} when the port cannot be bound again within the startup timeout
   */
  startGateway(): Promise<void>;
  /** Stops the gateway and redis-server and removes the temporary directory. */
  close(): Promise<void>;
}

const GATEWAY_SCRIPT = new URL("../../scripts/redis_http.ts", import.meta.url).pathname;
const STARTUP_TIMEOUT_MS = 15_000;

/**
 * Creates an `@upstash/redis` client for a gateway.
 *
 * @param url the gateway's base URL
 * @param token its bearer token
 * @returns a client with telemetry and retries off, so failures surface at once
 */
export function createRedisClient(url: string, token: string): Redis {
  return new Redis({ url, token, enableTelemetry: false, retry: false });
}

/** @returns a port that was free a moment ago */
export function findFreePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function redisServerMissing(): Error {
  return new Error(
    "redis-server was not found on PATH. Kiln's Redis tests need a real Redis: " +
      "run `apt-get install -y redis-server` as root (or put redis-server on PATH)",
  );
}

/** @returns whether something on `port` answers PING with PONG */
async function answersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/**
 * Starts a `redis-server` on 127.0.0.1:`port` that keeps nothing on disk, its files in `dir`;
 * `extra` adds settings (the cluster harness's cluster options).
 */
export function spawnRedisServer(
  port: number,
  dir: string,
  extra: readonly string[] = [],
): Deno.ChildProcess {
  try {
    return new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        ...extra,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw redisServerMissing();
    throw error;
  }
}

/** Starts redis-server on `port` and waits until it answers PING. */
async function launchRedis(port: number, dir: string): Promise<Deno.ChildProcess> {
  const child = spawnRedisServer(port, dir);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await answersPing(port)) return child;
    if (exited) {
      throw new Error(`redis-server on port ${port} exited with code ${(await status).code}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill("SIGKILL");
  await status;
  throw new Error(
    `redis-server on port ${port} did not answer PING within ${STARTUP_TIMEOUT_MS} ms`,
  );
}

/**
 * Signals a subprocess (if it still runs) and waits for it to exit.
 *
 * @param child the process
 * @param signal the signal to send
 */
export async function stopProcess(child: Deno.ChildProcess, signal: Deno.Signal): Promise<void> {
  try {
    child.kill(signal);
  } catch {
    // already exited
  }
  await child.status;
}

/**
 * Reads the gateway's `{"listening": url}` line, then keeps draining its stdout.
 *
 * @returns the URL and a promise that settles when stdout closes
 */
async function readListeningLine(
  child: Deno.ChildProcess,
): Promise<{ url: string; drained: Promise<void> }> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), STARTUP_TIMEOUT_MS);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) {
        const { code } = await child.status;
        throw new Error(`The gateway exited with code ${code} before listening`);
      }
      text += value;
    }
  } finally {
    clearTimeout(timer);
  }
  const line = text.slice(0, text.indexOf("\n"));
  const { listening } = JSON.parse(line) as { listening: string };
  const drained = (async () => {
    while (!(await reader.read()).done) {
      // discard anything else the gateway prints
    }
  })();
  return { url: listening, drained };
}

/** A gateway subprocess that has printed its listening line. */
export interface RunningGateway {
  readonly process: Deno.ChildProcess;
  readonly url: string;
  /** Settles when the process's stdout closes. */
  readonly drained: Promise<void>;
  /** Whether the process has exited (however it was stopped). */
  readonly exited: boolean;
}

/**
 * Spawns the gateway with `args` (e.g. `["run", "-A", script, "--cluster", …]`) and waits
 * for its `{"listening": url}` line.
 *
 * @param args the arguments to the Deno executable
 * @returns the running gateway
 * @throws {Error} when it exits or stays silent past the startup timeout
 */
export async function launchGateway(args: string[]): Promise<RunningGateway> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let exited = false;
  child.status.then(() => (exited = true));
  try {
    const { url, drained } = await readListeningLine(child);
    return {
      process: child,
      url,
      drained,
      get exited() {
        return exited;
      },
    };
  } catch (error) {
    await stopProcess(child, "SIGKILL");
    throw error;
  }
}

/**
 * Starts a private redis-server (on a free port, no persistence, in a temporary
 * directory) and the HTTP gateway in front of it.
 *
 * @param options gateway settings for special tests
 * @returns the running stack; close it with `await using` or {@linkcode RedisStack.close}
 * @throws {Error} when `redis-server` is not installed, with the command that installs it
 */
export async function startRedisStack(options: RedisStackOptions = {}): Promise<RedisStack> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-redis-" });
  const token = randomToken();
  let redisPort = 0;
  let redisProcess: Deno.ChildProcess | undefined;
  try {
    for (let attempt = 0; redisProcess === undefined; attempt++) {
      redisPort = findFreePort();
      try {
        redisProcess = await launchRedis(redisPort, dir);
      } catch (error) {
        // Another process may have taken the port between probing and binding.
        if (attempt >= 3 || !(error instanceof Error) || !error.message.includes("exited")) {
          throw error;
        }
      }
    }
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const redisUrl = `redis://127.0.0.1:${redisPort}`;

  const gatewayArgs = (port: number): string[] => {
    const args = [
      "run",
      "-A",
      GATEWAY_SCRIPT,
      "--port",
      `${port}`,
      "--redis",
      redisUrl,
      "--token",
      token,
    ];
    if (options.maxBodyBytes !== undefined) {
      args.push("--max-body-bytes", `${options.maxBodyBytes}`);
    }
    if (options.maxReplyBytes !== undefined) {
      args.push("--max-reply-bytes", `${options.maxReplyBytes}`);
    }
    if (options.sseHeartbeatMs !== undefined) {
      args.push("--sse-heartbeat-ms", `${options.sseHeartbeatMs}`);
    }
    if (options.sseMaxBufferedBytes !== undefined) {
      args.push("--sse-max-buffered-bytes", `${options.sseMaxBufferedBytes}`);
    }
    const allow = options.allow ?? ["FLUSHDB", "SCRIPT|FLUSH"];
    if (allow.length > 0) {
      args.push("--allow", allow.join(","));
    }
    return args;
  };
  let gateway: RunningGateway;
  try {
    gateway = await launchGateway(gatewayArgs(0));
  } catch (error) {
    await stopProcess(redisProcess, "SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const gatewayUrl = gateway.url;
  const gatewayPort = Number(new URL(gatewayUrl).port);

  const stopGateway = async (signal: Deno.Signal = "SIGKILL"): Promise<void> => {
    await stopProcess(gateway.process, signal);
    await gateway.drained;
  };

  let closing: Promise<void> | undefined;
  const stack: RedisStack = {
    redis: createRedisClient(gatewayUrl, token),
    gatewayUrl,
    token,
    redisUrl,
    redisPort,
    get gatewayProcess() {
      return gateway.process;
    },
    newRedis: () => createRedisClient(gatewayUrl, token),
    async stopRedis() {
      if (redisProcess === undefined) return;
      const child = redisProcess;
      redisProcess = undefined;
      await stopProcess(child, "SIGTERM");
    },
    async startRedis() {
      if (redisProcess !== undefined) return;
      redisProcess = await launchRedis(redisPort, dir);
    },
    stopGateway,
    async startGateway() {
      if (!gateway.exited) return;
      // The old process is gone, but its port may take a moment to be free again.
      const deadline = Date.now() + STARTUP_TIMEOUT_MS;
      for (;;) {
        try {
          gateway = await launchGateway(gatewayArgs(gatewayPort));
          return;
        } catch (error) {
          if (Date.now() >= deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
    close() {
      closing ??= (async () => {
        await stopGateway("SIGTERM");
        await stack.stopRedis();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return stack.close();
    },
  };
  return stack;
}
