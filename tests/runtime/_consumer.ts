/**
 * The consumer step of `deno task test:runtime`: does the npm package work in a
 * user's project at both ends of its peer ranges?
 *
 * For the oldest and the newest `hono` and `@upstash/redis` the peer ranges
 * allow (`scripts/_build/peers.ts`), it creates a fresh project in a temporary
 * folder, installs the package from its `npm pack` tarball (what a registry
 * install unpacks) beside those versions, and checks, each as one case:
 * the install, the shipped docs, a single `hono` (`npm ls hono`), `tsc --noEmit`
 * of `consumer/app.ts` (strict, node16 resolution, Kiln's declarations checked
 * too), the app running under Node against the runner's Redis gateway, and
 * `require()` of the ESM-only package from CommonJS.
 *
 * npm's cache is reused and installs prefer it (`--prefer-offline`), so a warm
 * run needs no network; the newest versions are asked of the registry, falling
 * back to the cache's knowledge when it cannot be reached. Each project lives in
 * a temporary folder, removed afterwards unless `KILN_KEEP_CONSUMER=1` is set.
 *
 * @module
 */

import { join } from "node:path";
import { PEERS } from "../../scripts/_build/peers.ts";
import { type CaseReport, tally } from "./_tally.ts";
import type { RuntimeResult } from "./_runtimes.ts";

const HERE = import.meta.dirname!;
const ROOT = join(HERE, "..", "..");
const PACKAGE = join(ROOT, "npm");
const APP = join(HERE, "consumer", "app.ts");
/** The suite's pinned esbuild: it strips the app's types for Node 20, which cannot. */
const ESBUILD = join(HERE, "suite", "node_modules", ".bin", "esbuild");

/** What the app needs besides Kiln and the peers, as a Node user would add them. */
const TOOLING: Readonly<Record<string, string>> = {
  // @hono/node-ws 1.3 wants @hono/node-server 1.x (2.x is a new major).
  "@hono/node-server": "^1.19.11",
  "@hono/node-ws": "^1.3.1",
  ws: "^8.18.0",
};
const DEV_TOOLING: Readonly<Record<string, string>> = { "@types/ws": "^8.18.0" };

/** Longest one command may take before it is killed and its case fails. */
const COMMAND_TIMEOUT_MS = 120_000;

/** One consumer project: the user's peers at one end of their ranges. */
export interface ConsumerVariant {
  /** `oldest` or `newest`. */
  end: "oldest" | "newest";
  /** Exact versions to install, by package name. */
  peers: Record<string, string>;
}

/** The checks every variant reports, in order; one never reported fails it. */
export const CONSUMER_CHECKS: readonly string[] = [
  "npm install of the packed tarball beside the peers",
  "the package ships README.md, LICENSE, SECURITY.md and docs/",
  "one copy of hono (npm ls hono)",
  "tsc --noEmit accepts app.get(realtime(…)) and app.route(uploads(…)): strict, node16",
  "the app runs under node: uploads, realtime, a Redis queue",
  "require() loads it from CommonJS (Node 20.19+ loads ESM synchronously)",
];

/** The suite name a variant's cases are counted under. */
export function variantName(variant: ConsumerVariant): string {
  const versions = Object.entries(variant.peers).map(([name, version]) => `${name}@${version}`);
  return `consumer (${variant.end}: ${versions.join(", ")})`;
}

interface Run {
  success: boolean;
  output: string;
}

/** Runs a command, capturing its output, killed after {@linkcode COMMAND_TIMEOUT_MS}. */
async function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<Run> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      cwd,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { success: false, output: `\`${command}\` was not found; install Node.js 20+` };
    }
    throw error;
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, COMMAND_TIMEOUT_MS);
  const { success, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  const output = decoder.decode(stdout) + decoder.decode(stderr);
  return {
    success: success && !timedOut,
    output: timedOut ? `${output}\nkilled after ${COMMAND_TIMEOUT_MS / 1000}s` : output,
  };
}

/**
 * Packs npm/ as `npm publish` would, into a temporary folder.
 *
 * @param packageDir The built package. @default npm/ of this checkout
 * @returns The tarball's path and the folder to remove afterwards.
 * @throws {Error} When `npm pack` fails.
 */
export async function packPackage(
  packageDir: string = PACKAGE,
): Promise<{ tarball: string; folder: string }> {
  const folder = await Deno.makeTempDir({ prefix: "kiln-pack-" });
  const packed = await run(
    "npm",
    ["pack", "--json", "--ignore-scripts", "--pack-destination", folder],
    packageDir,
  );
  if (!packed.success) {
    await Deno.remove(folder, { recursive: true });
    throw new Error(`npm pack in npm/ failed:\n${packed.output}`);
  }
  const [{ filename }] = JSON.parse(packed.output.slice(packed.output.indexOf("[")));
  return { tarball: join(folder, filename), folder };
}

/** The newest version of `name` inside `range`, from the registry or else npm's cache. */
async function newest(name: string, range: string): Promise<string> {
  // Online first, failing fast (npm's default retries wait a minute); then the cache alone.
  const online = ["--fetch-retries=1", "--fetch-retry-mintimeout=500", "--fetch-timeout=15000"];
  for (const mode of [online, ["--offline"]]) {
    const asked = await run(
      "npm",
      ["view", `${name}@${range}`, "version", "--json", ...mode],
      HERE,
    );
    if (!asked.success) continue;
    const versions: string | string[] = JSON.parse(asked.output);
    return Array.isArray(versions) ? versions[versions.length - 1] : versions;
  }
  throw new Error(`could not learn the newest ${name}@${range}, online or from npm's cache`);
}

/**
 * The two ends of the peer ranges: every peer at its floor, then every peer at
 * the newest release its range allows.
 *
 * @returns The oldest and the newest variant.
 * @throws {Error} When the newest versions cannot be learned at all.
 */
export async function consumerVariants(): Promise<ConsumerVariant[]> {
  const oldest: Record<string, string> = {};
  const latest: Record<string, string> = {};
  for (const [name, peer] of Object.entries(PEERS)) {
    oldest[name] = peer.oldest;
    latest[name] = await newest(name, peer.range);
  }
  return [{ end: "oldest", peers: oldest }, { end: "newest", peers: latest }];
}

/**
 * A Node project's tsconfig, as Hono's Node template writes it (no `lib`, so the
 * DOM types Hono's own declarations need are in), but with every declaration
 * checked: an error in Kiln's .d.ts under this `hono` must fail here, not hide
 * behind `skipLibCheck`.
 */
const TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: "es2022",
    module: "node16",
    moduleResolution: "node16",
    types: ["node"],
    noEmit: true,
    skipLibCheck: false,
  },
  files: ["app.ts"],
};

async function readJson(path: string): Promise<Record<string, Record<string, string>>> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** Where each installed hono sits and its version, from `npm ls hono --all --parseable --long`. */
function honoCopies(output: string): string[] {
  return [...new Set(output.split("\n").filter((line) => /:hono@/.test(line)))];
}

/**
 * Creates a fresh consumer project for `variant`, runs every check in
 * {@linkcode CONSUMER_CHECKS}, and counts them like a runtime's cases.
 *
 * @param variant The peers to install.
 * @param tarball The packed package.
 * @param env `KILN_REDIS_URL` and `KILN_REDIS_TOKEN` of the running gateway.
 * @returns The counts; a check never reached is a failure.
 */
export async function runConsumer(
  variant: ConsumerVariant,
  tarball: string,
  env: Record<string, string>,
): Promise<RuntimeResult> {
  const started = performance.now();
  const suite = variantName(variant);
  const reports: CaseReport[] = [];
  const dir = await Deno.makeTempDir({ prefix: `kiln-consumer-${variant.end}-` });
  const check = async (name: string, body: () => Promise<string | undefined>) => {
    let error: string | undefined;
    try {
      error = await body();
    } catch (thrown) {
      error = (thrown as Error).message;
    }
    reports.push({ suite, name, ok: error === undefined, error });
    console.log(`${error === undefined ? "✓" : "✗"} ${name}`);
    if (error !== undefined) console.log(indent(error));
    return error === undefined;
  };
  try {
    const kiln = await readJson(join(PACKAGE, "package.json"));
    const imports = (await readJson(join(ROOT, "deno.json"))).imports;
    await Deno.writeTextFile(
      join(dir, "package.json"),
      JSON.stringify(
        {
          name: "kiln-consumer",
          private: true,
          type: "module",
          dependencies: {
            "@kiln/core": `file:${tarball}`,
            ...variant.peers,
            ...TOOLING,
            // The app writes its own schemas, with the valibot Kiln is built against.
            valibot: kiln.dependencies.valibot,
          },
          devDependencies: {
            ...DEV_TOOLING,
            "@types/node": kiln.devDependencies["@types/node"],
            typescript: imports.typescript.replace(/^npm:typescript@/, ""),
          },
        },
        null,
        2,
      ),
    );
    await Deno.copyFile(APP, join(dir, "app.ts"));
    await Deno.writeTextFile(join(dir, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));

    const installed = await check(CONSUMER_CHECKS[0], async () => {
      const { success, output } = await run("npm", [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--loglevel=error",
      ], dir);
      return success ? undefined : output;
    });
    if (!installed) return count(suite, reports, started, dir);

    await check(CONSUMER_CHECKS[1], async () => {
      const root = join(dir, "node_modules", "@kiln", "core");
      const wanted = ["README.md", "LICENSE", "SECURITY.md", "docs/ARCHITECTURE.md"];
      const missing: string[] = [];
      for (const file of wanted) {
        await Deno.stat(join(root, file)).catch(() => missing.push(file));
      }
      return missing.length === 0 ? undefined : `missing from the package: ${missing.join(", ")}`;
    });

    await check(CONSUMER_CHECKS[2], async () => {
      const listed = await run("npm", ["ls", "hono", "--all", "--parseable", "--long"], dir);
      const copies = honoCopies(listed.output);
      const expected = `hono@${variant.peers.hono}`;
      if (!listed.success) return `npm ls hono failed:\n${listed.output}`;
      if (copies.length !== 1 || !copies[0].endsWith(`:${expected}`)) {
        return `expected one ${expected}, found:\n${copies.join("\n") || "none"}`;
      }
      return undefined;
    });

    await check(CONSUMER_CHECKS[3], async () => {
      const tsc = join(dir, "node_modules", "typescript", "bin", "tsc");
      const { success, output } = await run("node", [tsc, "-p", "tsconfig.json"], dir);
      return success ? undefined : output;
    });

    await check(CONSUMER_CHECKS[4], async () => {
      // Types stripped only (no bundling): Node resolves every import from node_modules.
      const stripped = await run(
        ESBUILD,
        ["app.ts", "--format=esm", "--platform=node", "--outfile=app.mjs", "--log-level=warning"],
        dir,
      );
      if (!stripped.success) return `esbuild could not strip app.ts:\n${stripped.output}`;
      const ran = await run("node", ["app.mjs"], dir, env);
      if (ran.success) {
        console.log(indent(ran.output.trim()));
        return undefined;
      }
      return ran.output;
    });

    await check(CONSUMER_CHECKS[5], async () => {
      // The package is ESM only; the README promises require() works where Node allows it.
      const script = "const { KilnError } = require('@kiln/core/errors');" +
        "const { Queue } = require('@kiln/core/queue');" +
        "if (typeof KilnError !== 'function' || typeof Queue !== 'function') process.exit(1);";
      const required = await run("node", ["-e", script], dir);
      return required.success ? undefined : required.output || "require() returned no classes";
    });
    return count(suite, reports, started, dir);
  } catch (error) {
    // Setting up the project failed: every check is then counted as never run.
    console.error(`✗ ${suite}: ${(error as Error).message}`);
    return count(suite, reports, started, dir);
  }
}

async function count(
  suite: string,
  reports: CaseReport[],
  started: number,
  dir: string,
): Promise<RuntimeResult> {
  if (Deno.env.get("KILN_KEEP_CONSUMER")) console.log(`kept ${dir} (KILN_KEEP_CONSUMER)`);
  else await Deno.remove(dir, { recursive: true });
  const expected = CONSUMER_CHECKS.map((name) => ({ suite, name }));
  const { passed, failed, problems } = tally(expected, reports);
  return {
    name: suite,
    passed,
    failed,
    problems,
    seconds: (performance.now() - started) / 1000,
  };
}

function indent(text: string): string {
  const lines = text.trimEnd().split("\n");
  const shown = lines.length > 40 ? ["…", ...lines.slice(-40)] : lines;
  return shown.map((line) => `    ${line}`).join("\n");
}
