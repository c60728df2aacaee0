/**
 * Builds the npm package in npm/: ESM JavaScript and declarations for every
 * entry in deno.json `exports`, and a package.json generated from deno.json.
 *
 * This does dnt's job (dnt lives on JSR, which this workplace cannot reach)
 * with TypeScript's own compiler:
 * 1. walk the module graph from the entry points to learn which npm packages
 *    the published code imports (test-only packages in the import map stay out);
 * 2. write npm/package.json and install those dependencies into npm/, so the
 *    compiler type-checks against exactly what users will get;
 * 3. type-check for ES2022 + DOM with no Deno or Node globals, failing on any
 *    error (an entry that imports `node:*`, like the upload file store, gets
 *    Node's types, and the other entries are checked again without them), and
 *    emit with a transformer that rewrites `./x.ts` to `./x.js`, and bare names
 *    the import map sends to npm (`hono/cors`, through `"hono/": "npm:/hono@^4/"`)
 *    to plain package specifiers (`hono/cors`), their range going to package.json;
 * 4. read the output back and fail on any specifier npm could not resolve;
 * 5. copy README.md, LICENSE, SECURITY.md and docs/, and fail on a relative link
 *    in them that does not resolve inside the package (npm renders the README).
 *
 * `hono` and `@upstash/redis` are peer dependencies (`_build/peers.ts`): a user's
 * app must share Kiln's `hono`, or its types reject Kiln's middleware.
 *
 * Usage: `deno task build:npm` (`--skip-install` reuses npm/node_modules as is).
 *
 * @module
 */

import ts from "typescript";
import { dirname, join, relative, resolve } from "node:path";
import {
  createPackageJson,
  type DenoConfig,
  entryPoints,
  MINIMUM_NODE,
} from "./_build/package_json.ts";
import { splitPeers } from "./_build/peers.ts";
import { brokenLinks } from "./_build/markdown_links.ts";
import { mapSpecifier, type NpmReference } from "./_build/specifiers.ts";
import { createSpecifierTransformer } from "./_build/transform_specifiers.ts";

const ROOT = resolve(import.meta.dirname!, "..");
const OUT = join(ROOT, "npm");
const ESM = join(OUT, "esm");
/** The oldest Node the package supports (`engines`), so its types allow nothing newer. */
const NODE_TYPES_RANGE = `^${MINIMUM_NODE}`;
/** What ships beside the code; README.md's links point into these. */
const SHIPPED_DOCS = ["README.md", "LICENSE", "SECURITY.md", "docs"];

/** Compiler options for the published code: what every supported runtime has, nothing more. */
const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  // ES2022 + DOM is the common ground of Node 20, Bun, Deno and workerd; `types: []`
  // keeps @types/* (and so Node globals) out, and Deno's lib is never listed.
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
  types: [],
  strict: true,
  // Source imports `./x.ts`; TypeScript accepts that for emit only with the rewrite on.
  allowImportingTsExtensions: true,
  rewriteRelativeImportExtensions: true,
  isolatedModules: true,
  declaration: true,
  // Dependencies' own declarations are their authors' business, not a reason to fail ours.
  skipLibCheck: true,
  rootDir: ROOT,
  outDir: ESM,
  newLine: ts.NewLineKind.LineFeed,
  removeComments: false,
};

function fail(message: string): never {
  console.error(`build:npm: ${message}`);
  Deno.exit(1);
}

function readConfig(): DenoConfig {
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))) as DenoConfig;
  if (!config.name || !config.version || !config.exports) {
    fail("deno.json needs name, version and exports");
  }
  return config;
}

/** What the module graph of the published code needs. */
interface GraphInfo {
  /** npm packages imported, with the range the import map gives each. */
  dependencies: Record<string, string>;
  /** Entry sources whose graph imports `node:*` (the upload file store, for one). */
  nodeEntries: Set<string>;
}

/**
 * Follows relative imports from each entry point, collecting every npm package
 * the reachable files import and noting which entries reach a `node:*` module.
 */
function analyzeGraph(
  sources: readonly string[],
  imports: Readonly<Record<string, string>>,
): GraphInfo {
  const dependencies: Record<string, string> = {};
  const nodeEntries = new Set<string>();
  // Each file is read and scanned once, however many entries reach it.
  const scanned = new Map<string, { relatives: string[]; usesNode: boolean }>();

  function scan(file: string, from: string): { relatives: string[]; usesNode: boolean } {
    const known = scanned.get(file);
    if (known !== undefined) return known;
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      fail(`${relative(ROOT, file)} does not exist (named in ${from})`);
    }
    const result = { relatives: [] as string[], usesNode: false };
    for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
      let mapped;
      try {
        mapped = mapSpecifier(fileName, imports);
      } catch (error) {
        fail(`${relative(ROOT, file)}: ${(error as Error).message}`);
      }
      if (mapped.kind === "relative") result.relatives.push(resolve(dirname(file), fileName));
      if (mapped.kind === "npm") addDependency(dependencies, mapped.reference, file);
      if (mapped.kind === "builtin") result.usesNode = true;
    }
    scanned.set(file, result);
    return result;
  }

  for (const source of sources) {
    const seen = new Set<string>();
    const pending = [{ file: source, from: "deno.json exports" }];
    while (pending.length > 0) {
      const { file, from } = pending.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const { relatives, usesNode } = scan(file, from);
      if (usesNode) nodeEntries.add(source);
      for (const next of relatives) pending.push({ file: next, from: relative(ROOT, file) });
    }
  }
  return { dependencies, nodeEntries };
}

function addDependency(
  dependencies: Record<string, string>,
  { name, range }: NpmReference,
  file: string,
): void {
  if (range === undefined) fail(`${relative(ROOT, file)}: npm:${name} needs a version range`);
  const known = dependencies[name];
  if (known !== undefined && known !== range) {
    fail(`${name} is imported with two ranges, "${known}" and "${range}"`);
  }
  dependencies[name] = range;
}

async function installDependencies(): Promise<void> {
  // `--ignore-scripts`: nothing Kiln depends on needs an install step to be type-checked.
  const { success } = await new Deno.Command("npm", {
    // `--prefer-offline`: npm's cache answers without asking the registry, so rebuilds work offline.
    args: [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--loglevel=error",
    ],
    cwd: OUT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) fail("npm install in npm/ failed");
}

function createHost(imports: Readonly<Record<string, string>>): ts.CompilerHost {
  const host = ts.createCompilerHost(COMPILER_OPTIONS, true);
  // Packages resolve as if imported from npm/ itself, where their node_modules live,
  // so TypeScript honours their `exports` and `types` exactly as a user's compiler would.
  const packageAnchor = join(OUT, "index.ts");
  host.resolveModuleNameLiterals = (literals, containingFile, redirected, options) =>
    literals.map(({ text }) => {
      let specifier = text;
      let from = containingFile;
      try {
        const mapped = mapSpecifier(text, imports);
        if (mapped.kind !== "relative") {
          specifier = mapped.specifier;
          from = packageAnchor;
        }
      } catch {
        // Leave it unresolved: the checker then reports it at the import, with context.
      }
      return ts.resolveModuleName(specifier, from, options, host, undefined, redirected);
    });
  return host;
}

function reportDiagnostics(diagnostics: readonly ts.Diagnostic[]): boolean {
  if (!diagnostics.some((d) => d.category === ts.DiagnosticCategory.Error)) return true;
  console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => "\n",
  }));
  return false;
}

/**
 * Type-checks, then emits. Entries that import `node:*` (the upload file store)
 * are compiled with Node's types; when there are any, every other entry is
 * checked a second time without them, so Node globals (`process`, `Buffer`)
 * cannot creep into the runtime-agnostic code unnoticed.
 */
function checkAndEmit(
  config: DenoConfig,
  sources: readonly string[],
  nodeEntries: ReadonlySet<string>,
): void {
  const imports = config.imports ?? {};
  const options: ts.CompilerOptions = nodeEntries.size > 0
    ? { ...COMPILER_OPTIONS, types: ["node"], typeRoots: [join(OUT, "node_modules", "@types")] }
    : COMPILER_OPTIONS;
  const host = createHost(imports);
  const program = ts.createProgram({ rootNames: sources, options, host });
  let clean = reportDiagnostics(ts.getPreEmitDiagnostics(program));
  const agnostic = sources.filter((source) => !nodeEntries.has(source));
  if (nodeEntries.size > 0 && agnostic.length > 0) {
    const strict = ts.createProgram({
      rootNames: agnostic,
      options: { ...COMPILER_OPTIONS, noEmit: true },
      host,
      oldProgram: program,
    });
    clean = reportDiagnostics(ts.getPreEmitDiagnostics(strict)) && clean;
  }
  if (!clean) fail("type errors; nothing was emitted");

  const rewrite = (specifier: string) => {
    try {
      return mapSpecifier(specifier, imports).specifier;
    } catch {
      return specifier; // Unreachable: analyzeGraph already rejected it.
    }
  };
  const transformer = createSpecifierTransformer(rewrite);
  const result = program.emit(undefined, undefined, undefined, false, {
    before: [transformer as ts.TransformerFactory<ts.SourceFile>],
    afterDeclarations: [transformer],
  });
  if (result.emitSkipped) fail("the compiler skipped emit");
}

/**
 * Reads every emitted file back and checks that each specifier is one npm can
 * resolve: a relative `.js` file that exists, a declared dependency, or `node:*`.
 * This catches a transformer miss before a user does.
 */
function verifyOutput(dependencies: Readonly<Record<string, string>>): number {
  let files = 0;
  function walk(dir: string): void {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      else if (/\.(d\.ts|js)$/.test(entry.name)) verifyFile(path);
    }
  }
  function verifyFile(path: string): void {
    files++;
    const info = ts.preProcessFile(Deno.readTextFileSync(path), true, true);
    for (const { fileName } of info.importedFiles) {
      const where = `${relative(ROOT, path)} imports "${fileName}"`;
      if (fileName.startsWith(".")) {
        if (!fileName.endsWith(".js")) fail(`${where}, which is not a .js path`);
        const target = resolve(dirname(path), fileName);
        const exists = [target, target.replace(/\.js$/, ".d.ts")].some((p) => {
          try {
            return Deno.statSync(p).isFile;
          } catch {
            return false;
          }
        });
        if (!exists) fail(`${where}, which was not emitted`);
      } else if (!fileName.startsWith("node:")) {
        const name = fileName.startsWith("@")
          ? fileName.split("/").slice(0, 2).join("/")
          : fileName.split("/")[0];
        if (!(name in dependencies)) fail(`${where}, which is not in dependencies`);
      }
    }
  }
  walk(ESM);
  return files;
}

/** Copies the README, licence, threat model and guides, then checks their links. */
function copyDocs(): void {
  for (const name of SHIPPED_DOCS) {
    try {
      copyTree(join(ROOT, name), join(OUT, name));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      fail(`${name} does not exist, and the package must ship it`);
    }
  }
  const shipped = (path: string) => {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  };
  const problems: string[] = [];
  function checkLinks(path: string): void {
    if (Deno.statSync(path).isDirectory) {
      for (const entry of Deno.readDirSync(path)) checkLinks(join(path, entry.name));
      return;
    }
    if (!path.endsWith(".md")) return;
    const exists = (target: string) => {
      const resolved = resolve(dirname(path), target);
      return !relative(OUT, resolved).startsWith("..") && shipped(resolved);
    };
    for (const target of brokenLinks(Deno.readTextFileSync(path), exists)) {
      problems.push(`${relative(OUT, path)} links to "${target}", which the package does not ship`);
    }
  }
  for (const name of SHIPPED_DOCS) checkLinks(join(OUT, name));
  if (problems.length > 0) fail(problems.join("\n"));
}

function copyTree(from: string, to: string): void {
  if (!Deno.statSync(from).isDirectory) {
    Deno.copyFileSync(from, to);
    return;
  }
  Deno.mkdirSync(to, { recursive: true });
  for (const entry of Deno.readDirSync(from)) {
    copyTree(join(from, entry.name), join(to, entry.name));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const config = readConfig();
  const entries = entryPoints(config);
  const sources = entries.map(({ source }) => resolve(ROOT, source));
  const graph = analyzeGraph(sources, config.imports ?? {});
  const { nodeEntries } = graph;
  let split;
  try {
    split = splitPeers(graph.dependencies);
  } catch (error) {
    fail((error as Error).message);
  }
  const { dependencies, peerDependencies, optionalPeers } = split;

  Deno.mkdirSync(OUT, { recursive: true });
  // npm/node_modules and npm/package-lock.json survive rebuilds so installs stay incremental.
  for (const entry of Deno.readDirSync(OUT)) {
    if (entry.name !== "node_modules" && entry.name !== "package-lock.json") {
      Deno.removeSync(join(OUT, entry.name), { recursive: true });
    }
  }
  const outputOf = (source: string) =>
    "./" + relative(OUT, join(ESM, relative(ROOT, resolve(ROOT, source))))
      .replace(/\.(m?)tsx?$/, ".$1js");
  // Node's types only type-check the entries that import `node:*`; users never need them.
  // The peers are installed at deno.json's range so the build checks against that version.
  const devDependencies: Record<string, string> = {
    ...split.devDependencies,
    ...(nodeEntries.size > 0 ? { "@types/node": NODE_TYPES_RANGE } : {}),
  };
  const manifest = createPackageJson(config, outputOf, {
    dependencies,
    peerDependencies,
    optionalPeers,
    devDependencies,
  });
  Deno.writeTextFileSync(join(OUT, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  if (!Deno.args.includes("--skip-install")) await installDependencies();

  checkAndEmit(config, sources, nodeEntries);
  const files = verifyOutput({ ...dependencies, ...peerDependencies });
  copyDocs();

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `build:npm: ${config.name}@${config.version} → npm/ (${entries.length} entry points, ` +
      `${files} files, dependencies: ${Object.keys(dependencies).join(", ") || "none"}; ` +
      `peers: ${Object.entries(peerDependencies).map(([n, r]) => `${n}@${r}`).join(", ")}) ` +
      `in ${seconds}s`,
  );
}

if (import.meta.main) await main();
