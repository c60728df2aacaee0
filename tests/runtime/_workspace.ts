/**
 * Prepares tests/runtime/suite/node_modules, the "user app" the suite runs in: the
 * tooling pinned by package-lock.json (esbuild, Miniflare with its workerd
 * binary, the user's own `@upstash/redis`) plus the freshly built npm/ package
 * installed under its name, `@kiln/core`, with its dependencies.
 *
 * @module
 */

import { join } from "node:path";

// The npm project lives in suite/, not here: a package.json beside run.ts would make
// Deno resolve run.ts's own bare imports from node_modules instead of deno.json.
const WORKSPACE = join(import.meta.dirname!, "suite");
const PACKAGE = join(import.meta.dirname!, "..", "..", "npm");

/**
 * Installs everything with one `npm install`, which is a no-op for the locked
 * tooling once present (well under a second) and a full install on a clean clone.
 *
 * @throws {Error} When npm is missing or the install fails.
 */
export async function prepareWorkspace(): Promise<void> {
  // npm compares a folder dependency by name and version only, so it would keep a
  // stale copy of @kiln/core across rebuilds: remove it to force a fresh copy.
  await Deno.remove(join(WORKSPACE, "node_modules", "@kiln", "core"), { recursive: true })
    .catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  const args = [
    "install",
    // --no-save: the package's path and dependencies stay out of package.json and the lock.
    "--no-save",
    // --install-links: copy (pack) npm/ rather than symlink it, as a registry install would,
    // so its imports resolve from this node_modules and `files` is honoured.
    "--install-links",
    // --ignore-scripts: esbuild and workerd ship their binaries as optional packages, and
    // their postinstall steps would only try to download what is already there.
    "--ignore-scripts",
    // --prefer-offline: what npm's cache holds is used without asking the registry, so a
    // warm run works offline; only what the cache lacks is fetched.
    "--prefer-offline",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    PACKAGE,
  ];
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("npm", { args, cwd: WORKSPACE, stdin: "null" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("npm was not found on PATH; install Node.js 20+ (it ships npm)");
    }
    throw error;
  }
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr);
    throw new Error(`npm install in tests/runtime/suite failed:\n${stderr}`);
  }
}
