/**
 * Enforces docs/ARCHITECTURE.md's import rules over every file in `src/`: which
 * layer may import which, which npm packages the library may load, and that
 * `node:*` stays in the one file-system adapter.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const SRC = join(ROOT, "src");

/** The layer a file belongs to: its folder under `src/`, or `leaf` for top-level files. */
function layerOf(path: string): string {
  const parts = relative(SRC, path).split("/");
  if (parts.length === 1) return parts[0] === "public_errors.ts" ? "errors-entry" : "leaf";
  // The Pusher protocol sits on the hub and delivers webhooks as queue jobs.
  if (parts[0] === "realtime" && parts[1] === "pusher") return "realtime-pusher";
  return parts[1] === "errors.ts" ? `${parts[0]}-errors` : parts[0];
}

/** Which layers each layer may import at run time. */
const ALLOWED_LAYERS: Record<string, readonly string[]> = {
  leaf: ["leaf"],
  redis: ["leaf", "redis"],
  queue: ["leaf", "redis", "queue", "queue-errors"],
  scheduler: ["leaf", "redis", "scheduler", "scheduler-errors"],
  realtime: ["leaf", "redis", "realtime", "realtime-errors"],
  "realtime-pusher": [
    "leaf",
    "redis",
    "realtime",
    "realtime-errors",
    "realtime-pusher",
    "queue",
    "queue-errors",
  ],
  upload: ["leaf", "redis", "upload", "upload-errors"],
  // The dashboard reads the modules through the shapes of their objects, never their code.
  dashboard: ["leaf", "dashboard"],
  // A module's error classes build on KilnError and the module's own types only.
  "queue-errors": ["leaf", "queue"],
  "scheduler-errors": ["leaf", "scheduler"],
  "realtime-errors": ["leaf", "realtime"],
  "upload-errors": ["leaf", "upload"],
  // `@kiln/core/errors` gathers every module's errors, and nothing else.
  "errors-entry": ["leaf", "queue-errors", "scheduler-errors", "realtime-errors", "upload-errors"],
};

/** Layers a layer may import types from, erased at run time. */
const TYPE_ONLY_LAYERS: Record<string, readonly string[]> = {
  scheduler: ["queue"],
  dashboard: ["queue", "scheduler", "realtime", "upload"],
};

/** npm packages the library itself may load (DESIGN.md's dependency table). */
const LIBRARY_PACKAGES = [
  "hono",
  "@upstash/redis",
  "croner",
  "jose",
  "valibot",
  "file-type",
  "@noble/hashes",
  "aws4fetch",
  "@opentelemetry/api",
  // Spec-exact Server-Sent Events parsing for Redis subscriptions (issue #10).
  "eventsource-parser",
];

interface ImportSite {
  file: string;
  specifier: string;
  typeOnly: boolean;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts") && entry.name !== "_scripts.ts") files.push(path);
  }
  return files;
}

/** Static imports and re-exports, skipping doc comments (their examples import freely). */
function importsOf(file: string, text: string): ImportSite[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const sites: ImportSite[] = [];
  const pattern = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/g;
  for (const match of code.matchAll(pattern)) {
    sites.push({ file, specifier: match[3], typeOnly: match[2] !== undefined });
  }
  for (const match of code.matchAll(/import\(\s*"([^"]+)"\s*\)/g)) {
    sites.push({ file, specifier: match[1], typeOnly: false });
  }
  return sites;
}

async function allImports(): Promise<ImportSite[]> {
  const sites: ImportSite[] = [];
  for (const file of await sourceFiles(SRC)) {
    sites.push(...importsOf(file, await readFile(file, "utf8")));
  }
  return sites;
}

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

Deno.test("the import scanner sees imports, type imports and re-exports, but not doc examples", () => {
  const sites = importsOf(
    "x.ts",
    [
      "/**",
      ' * import { Redis } from "@upstash/redis";',
      " */",
      'import { a } from "./a.ts";',
      'import type { B } from "../queue/mod.ts";',
      'export { c } from "../redis/keys.ts";',
      'const m = await import("node:fs");',
    ].join("\n"),
  );
  assert.deepEqual(
    sites.map((s) => [s.specifier, s.typeOnly]),
    [["./a.ts", false], ["../queue/mod.ts", true], ["../redis/keys.ts", false], ["node:fs", false]],
  );
});

Deno.test("each layer of src/ imports only the layers docs/ARCHITECTURE.md allows", async () => {
  const violations: string[] = [];
  for (const site of await allImports()) {
    if (!site.specifier.startsWith(".")) continue;
    const from = layerOf(site.file);
    const to = layerOf(join(site.file, "..", site.specifier));
    if (ALLOWED_LAYERS[from]?.includes(to)) continue;
    if (site.typeOnly && TYPE_ONLY_LAYERS[from]?.includes(to)) continue;
    violations.push(`${relative(ROOT, site.file)} imports ${site.specifier} (${from} → ${to})`);
  }
  assert.deepEqual(violations, []);
});

Deno.test("src/ loads only the npm packages the design chose for the library", async () => {
  const violations: string[] = [];
  for (const site of await allImports()) {
    const spec = site.specifier;
    if (spec.startsWith(".") || spec.startsWith("node:")) continue;
    if (!LIBRARY_PACKAGES.includes(packageName(spec))) {
      violations.push(`${relative(ROOT, site.file)} imports ${spec}`);
    }
  }
  assert.deepEqual(violations, []);
});

/** The files an entry point loads at run time, following relative imports. */
function reachable(entry: string, byFile: Map<string, ImportSite[]>): Set<string> {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const site of byFile.get(file) ?? []) {
      if (site.specifier.startsWith(".") && !site.typeOnly) {
        stack.push(join(file, "..", site.specifier));
      }
    }
  }
  return seen;
}

Deno.test("no runtime-agnostic entry point loads a node:* module", async () => {
  const exports: Record<string, string> =
    JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).exports;
  const byFile = new Map<string, ImportSite[]>();
  for (const site of await allImports()) {
    byFile.set(site.file, [...byFile.get(site.file) ?? [], site]);
  }
  const violations: string[] = [];
  for (const [name, path] of Object.entries(exports)) {
    // The file store is its own entry point because it needs node:fs (Deno, Node, Bun).
    if (name === "./upload/file-store") continue;
    for (const file of reachable(join(ROOT, path), byFile)) {
      for (const site of byFile.get(file) ?? []) {
        if (site.specifier.startsWith("node:") && !site.typeOnly) {
          violations.push(`${name} loads ${relative(ROOT, file)}, which imports ${site.specifier}`);
        }
      }
    }
  }
  assert.deepEqual(violations, []);
  assert.ok(byFile.has(join(ROOT, "src/upload/file_store.ts")), "the scan saw the file store");
});
