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

/**
 * Creates the package manifest.
 *
 * @param config The parsed deno.json.
 * @param outputOf Maps a source path (`./src/redis/mod.ts`) to its emitted
 * JavaScript path relative to npm/ (`./esm/src/redis/mod.js`).
 * @param dependencies Package name to semver range, for packages the source imports.
 * @param devDependencies Packages only the build needs (type declarations).
 * @returns The package.json object.
 */
export function createPackageJson(
  config: DenoConfig,
  outputOf: (source: string) => string,
  dependencies: Readonly<Record<string, string>>,
  devDependencies: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  const exports: Record<string, { types: string; default: string }> = {};
  for (const { subpath, source } of entryPoints(config)) {
    const js = outputOf(source);
    // `types` must come first: TypeScript takes the first condition that matches.
    exports[subpath] = { types: js.replace(/\.js$/, ".d.ts"), default: js };
  }
  const sorted = (map: Readonly<Record<string, string>>) =>
    Object.fromEntries(Object.entries(map).sort(([a], [b]) => a.localeCompare(b)));
  return {
    name: config.name,
    version: config.version,
    description: config.description ?? DEFAULT_DESCRIPTION,
    license: "MIT",
    type: "module",
    sideEffects: false,
    engines: { node: ">=20" },
    exports,
    // README.md, LICENSE and package.json are always packed; list only the code.
    files: ["esm/"],
    dependencies: sorted(dependencies),
    ...(Object.keys(devDependencies).length > 0
      ? { devDependencies: sorted(devDependencies) }
      : {}),
  };
}
