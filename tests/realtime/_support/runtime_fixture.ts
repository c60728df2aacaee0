/**
 * Runs a realtime fixture server on Bun or on Node itself: bundles
 * `bun_server.ts` or `node_server.ts` with `deno bundle` (so the runtime gets
 * today's `src/`, not a stale npm build), starts it as a subprocess with its
 * config in `KILN_FIXTURE`, and reads its JSON lines: the port, then one
 * `{"closed": code}` per connection the hub closed. `deno_server.ts` runs
 * unbundled, for measurements of a Deno server in a process of its own.
 *
 * @module
 */
import type { FixtureConfig } from "./fixture_app.ts";

/** A runtime a fixture can run on. */
export type FixtureRuntime = "bun" | "node" | "deno";

/** A running fixture server. */
export interface FixtureServer extends AsyncDisposable {
  /** `ws://127.0.0.1:<port>/ws`. */
  readonly url: string;
  /** The server process's id, for measuring it. */
  readonly pid: number;
  /** Resolves the close code of the next connection the hub reports closed. */
  nextClose(): Promise<number>;
  /** Stops the server and waits for the process to exit. */
  close(): Promise<void>;
}

const bundles = new Map<"bun" | "node", Promise<string>>();

/** Bundles the entry for `runtime` once per test process; resolves the file. */
function bundle(runtime: "bun" | "node"): Promise<string> {
  let promise = bundles.get(runtime);
  if (!promise) {
    promise = (async () => {
      const entry = new URL(`./${runtime}_server.ts`, import.meta.url).pathname;
      const dir = await Deno.makeTempDir({ prefix: "kiln-fixture-" });
      const output = `${dir}/${runtime}_server.mjs`;
      const result = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--quiet", "--platform=deno", "-o", output, entry],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!result.success) {
        throw new Error(`deno bundle ${entry} failed: ${new TextDecoder().decode(result.stderr)}`);
      }
      return output;
    })();
    bundles.set(runtime, promise);
  }
  return promise;
}

/**
 * Starts a fixture server on `runtime`.
 *
 * @throws {Error} When the runtime is not installed or the server does not start.
 */
export async function startFixture(
  runtime: FixtureRuntime,
  config: FixtureConfig = {},
): Promise<FixtureServer> {
  const args = runtime === "deno"
    ? ["run", "-A", new URL("./deno_server.ts", import.meta.url).pathname]
    : [await bundle(runtime)];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(runtime === "deno" ? Deno.execPath() : runtime, {
      args,
      env: { KILN_FIXTURE: JSON.stringify(config) },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    throw new Error(`${runtime} is needed for this test and could not be started`, {
      cause: error,
    });
  }
  const closes: number[] = [];
  let wake: () => void = () => {};
  const { promise: port, resolve: gotPort, reject: noPort } = Promise.withResolvers<number>();
  const reading = (async () => {
    let text = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      let newline: number;
      while ((newline = text.indexOf("\n")) >= 0) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        let event: { port?: number; closed?: number };
        try {
          event = JSON.parse(line);
        } catch {
          continue; // anything else the runtime prints
        }
        if (typeof event.port === "number") gotPort(event.port);
        if (typeof event.closed === "number") {
          closes.push(event.closed);
          wake();
        }
      }
    }
    noPort(new Error(`The ${runtime} fixture exited before listening`));
  })();
  let stopping: Promise<void> | null = null;
  const close = () =>
    stopping ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await child.status;
      await reading;
    })();
  let listening: number;
  try {
    listening = await port;
  } catch (error) {
    await close();
    throw error;
  }
  return {
    url: `ws://127.0.0.1:${listening}/ws`,
    pid: child.pid,
    async nextClose() {
      while (closes.length === 0) {
        if (stopping) throw new Error("The fixture was stopped");
        await new Promise<void>((resolve) => wake = resolve);
      }
      return closes.shift()!;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
