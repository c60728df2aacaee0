/**
 * Builds npm/package.json from deno.json, so the two never disagree on name,
 * version or entry points.
 *
 * @module
 */

/** The parts of deno.json the npm build reads. */
export interface DenoConfig {
  name: string;
  version: string;
  description?: string;
  license?: string;
  exports: string | Record<string, string>;
  imports?: Record<string, string>;
}

/** One entry point: its export subpath (`.`, `./redis`) and source file (`./mod.ts`). */
export interface EntryPoint {
  subpath: string;
  source: string;
}

/**
 * Lists deno.json's entry points, whether `exports` is one string or a map.
 *
 * @param config The parsed deno.json.
 * @returns One entry per export subpath, in declaration order.
 */
export function entryPoints(config: DenoConfig): EntryPoint[] {
  const exports = typeof config.exports === "string" ? { ".": config.exports } : config.exports;
  return Object.entries(exports).map(([subpath, source]) => ({ subpath, source }));
}

/** Used when deno.json has no `description`. */
const DEFAULT_DESCRIPTION =
  "Background jobs, a task scheduler, authenticated realtime channels and resumable uploads " +
  "for Deno, Bun, Node and Cloudflare Workers, on Web standards and Redis over HTTP";

/** What the package needs from npm, by kind. */
export interface PackageDependencies {
  /** Package name to semver range, for packages the published code imports. */
  dependencies: Readonly<Record<string, string>>;
  /** Packages taken from the user's install (see `peers.ts`): name to range. */
  peerDependencies?: Readonly<Record<string, string>>;
  /** Peers the package works without. */
  optionalPeers?: readonly string[];
  /** Packages only the build needs (type declarations, the peers' tested versions). */
  devDependencies?: Readonly<Record<string, string>>;
}

/** The oldest Node the package supports; `engines` says so and the build types against it. */
export const MINIMUM_NODE = "20.19.0";

/**
 * Creates the package manifest.
 *
 * @param config The parsed deno.json.
 * @param outputOf Maps a source path (`./src/redis/mod.ts`) to its emitted
 * JavaScript path relative to npm/ (`./esm/src/redis/mod.js`).
 * @param needs The dependencies, peers and build-only packages.
 * @returns The package.json object.
 *
 * @example Peers stay out of dependencies
 * ```ts
 * import { createPackageJson } from "./package_json.ts";
 * import assert from "node:assert/strict";
 *
 * const manifest = createPackageJson(
 *   { name: "@kiln/core", version: "0.1.0", exports: { ".": "./mod.ts" } },
 *   () => "./esm/mod.js",
 *   { dependencies: { jose: "^6.0.0" }, peerDependencies: { hono: "^4.12.0" } },
 * );
 * assert.deepEqual(manifest.dependencies, { jose: "^6.0.0" });
 * assert.deepEqual(manifest.peerDependencies, { hono: "^4.12.0" });
 * ```
 */
export function createPackageJson(
  config: DenoConfig,
  outputOf: (source: string) => string,
  needs: PackageDependencies,
): Record<string, unknown> {
  const exports: Record<string, { types: string; default: string }> = {};
  for (const { subpath, source } of entryPoints(config)) {
    const js = outputOf(source);
    // `types` must come first: TypeScript takes the first condition that matches.
    exports[subpath] = { types: js.replace(/\.js$/, ".d.ts"), default: js };
  }
  const sorted = (map: Readonly<Record<string, string>>) =>
    Object.fromEntries(Object.entries(map).sort(([a], [b]) => a.localeCompare(b)));
  const peers = needs.peerDependencies ?? {};
  for (const name of Object.keys(peers)) {
    if (Object.hasOwn(needs.dependencies, name)) {
      throw new TypeError(`${name} cannot be both a dependency and a peer dependency`);
    }
  }
  const optional = [...(needs.optionalPeers ?? [])].sort();
  for (const name of optional) {
    if (!Object.hasOwn(peers, name)) throw new TypeError(`${name} is optional but not a peer`);
  }
  const devDependencies = needs.devDependencies ?? {};
  return {
    name: config.name,
    version: config.version,
    description: config.description ?? DEFAULT_DESCRIPTION,
    license: "MIT",
    // ESM only: `import` works everywhere; `require()` works only where Node loads ESM
    // synchronously (20.19+), and the README says so.
    type: "module",
    sideEffects: false,
    engines: { node: `>=${MINIMUM_NODE}` },
    exports,
    // README.md, LICENSE and package.json are always packed; the guides and the threat
    // model ship too, so the README's links resolve on npm.
    files: ["esm/", "docs/", "SECURITY.md"],
    dependencies: sorted(needs.dependencies),
    ...(Object.keys(peers).length > 0 ? { peerDependencies: sorted(peers) } : {}),
    ...(optional.length > 0
      ? { peerDependenciesMeta: Object.fromEntries(optional.map((n) => [n, { optional: true }])) }
      : {}),
    ...(Object.keys(devDependencies).length > 0
      ? { devDependencies: sorted(devDependencies) }
      : {}),
  };
}
