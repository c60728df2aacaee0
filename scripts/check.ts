/**
 * `deno task check`: everything that must stay clean before a change lands.
 * Formatting, lint, type-checking of every TypeScript file, type-checking of
 * the library (`src/`, `mod.ts`) without Deno's namespace, `deno doc --lint`
 * of every export path, the TypeScript examples in README.md and docs/, the
 * freshness of the generated `_scripts.ts` files, and a JSR publish dry run.
 * Each step runs even when an earlier one failed, so one run shows every problem.
 */
import denoJson from "../deno.json" with { type: "json" };

interface Step {
  name: string;
  args: string[];
}

/** Every folder holding TypeScript that must type-check. */
const CHECKED_ROOTS = ["mod.ts", "src", "scripts", "tests", "bench", "examples"];
/** The library itself: it runs on Node, Bun and Workers too, so it may not use `Deno.*`. */
const LIBRARY_ROOTS = ["mod.ts", "src"];
/** What every runtime Kiln supports provides; deno.json's `lib` adds `deno.ns` for tests. */
const LIBRARY_LIB = ["esnext", "dom", "dom.iterable"];

/**
 * Writes a config for type-checking the library: deno.json's imports and compiler
 * options with `lib` narrowed to {@linkcode LIBRARY_LIB}, so a `Deno.env` in
 * `src/` is an error (TS2304) here while tests and scripts keep `deno.ns`.
 * It lives in a temporary folder, generated each run, so it cannot drift from deno.json.
 *
 * @returns The config's path and its folder, to remove afterwards.
 */
async function libraryConfig(): Promise<{ path: string; folder: string }> {
  const folder = await Deno.makeTempDir({ prefix: "kiln-check-" });
  const path = `${folder}/deno.json`;
  const config = {
    imports: denoJson.imports,
    compilerOptions: { ...denoJson.compilerOptions, lib: LIBRARY_LIB },
  };
  await Deno.writeTextFile(path, JSON.stringify(config, null, 2));
  return { path, folder };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `deno doc --lint` on every export path together. `deno doc` cannot see
 * into npm packages, so it reports every dependency type in a public signature
 * (Hono's `MiddlewareHandler`, jose's `JWK`, …) as a `private-type-ref`, and
 * re-exporting them only moves the complaint into the dependency's own types.
 * Those are reported but tolerated; every other finding, including a reference
 * to one of Kiln's own unexported types, fails the check.
 */
async function docLint(paths: string[]): Promise<boolean> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...paths],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout);
  if (output.success) return true;
  const ownNames = await declaredNames("src");
  const blocks = text.split(/\n(?=error\[)/).filter((block) => block.startsWith("error["));
  const fatal = blocks.filter((block) => {
    const match = /^error\[private-type-ref\]: .* references private type '([^']+)'/.exec(block);
    return !match || ownNames.has(match[1]);
  });
  const tolerated = blocks.length - fatal.length;
  if (tolerated > 0) {
    console.log(`${tolerated} reference(s) to npm dependency types tolerated`);
  }
  for (const block of fatal) console.error(block.trimEnd());
  if (blocks.length === 0) console.error(text);
  return fatal.length === 0 && blocks.length > 0;
}

/** Every type, interface, class, function and const name declared in a folder. */
async function declaredNames(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  const declaration = /\b(?:type|interface|class|function|const|enum)\s+([A-Za-z_$][\w$]*)/g;
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      for (const name of await declaredNames(path)) names.add(name);
    } else if (entry.name.endsWith(".ts")) {
      // Imports and re-exports (`import { type JWK } from "jose"`) declare nothing of Kiln's own.
      const source = (await Deno.readTextFile(path)).replace(
        /^(?:import|export)\b[^;]*?\bfrom\s*["'][^"']+["'];?/gms,
        "",
      );
      for (const match of source.matchAll(declaration)) {
        names.add(match[1]);
      }
    }
  }
  return names;
}

/** The Markdown guides in docs/. */
async function guides(): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir("docs")) {
    if (entry.isFile && entry.name.endsWith(".md")) files.push(`docs/${entry.name}`);
  }
  return files.sort();
}

const roots: string[] = [];
for (const root of CHECKED_ROOTS) if (await exists(root)) roots.push(root);
const exportPaths = Object.values(denoJson.exports as Record<string, string>);
const library = await libraryConfig();

const steps: Step[] = [
  { name: "fmt", args: ["fmt", "--check"] },
  { name: "lint", args: ["lint"] },
  { name: "type-check", args: ["check", ...roots] },
  // `--lock` keeps the project's lockfile (the config sits elsewhere); `--frozen` never writes it.
  {
    name: `type-check ${LIBRARY_ROOTS.join(", ")} without deno.ns`,
    args: ["check", "--config", library.path, "--lock=deno.lock", "--frozen", ...LIBRARY_ROOTS],
  },
  // Every ts block in the guides must compile against the real API, so docs cannot drift.
  { name: "docs examples", args: ["check", "--doc-only", "README.md", ...await guides()] },
  { name: "generated scripts", args: ["run", "-A", "scripts/gen_scripts.ts", "--check"] },
  // JSR's own checks (slow types, what the package ships), without uploading anything.
  { name: "publish dry run", args: ["publish", "--dry-run", "--allow-dirty", "--quiet"] },
];

const failed: string[] = [];
for (const step of steps) {
  console.log(`\n== ${step.name}: deno ${step.args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), { args: step.args }).spawn().status;
  if (code !== 0) failed.push(step.name);
}
await Deno.remove(library.folder, { recursive: true });
console.log(`\n== doc lint: deno doc --lint ${exportPaths.join(" ")}`);
if (!await docLint(exportPaths)) failed.push("doc lint");
if (failed.length > 0) {
  console.error(`\ncheck failed: ${failed.join(", ")}`);
  Deno.exit(1);
}
console.log("\ncheck passed");
