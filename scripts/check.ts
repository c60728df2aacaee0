/**
 * `deno task check`: everything that must stay clean before a change lands.
 * Formatting, lint, type-checking of every TypeScript file, `deno doc --lint`
 * of every export path, and the freshness of the generated `_scripts.ts` files.
 * Each step runs even when an earlier one failed, so one run shows every problem.
 */
import denoJson from "../deno.json" with { type: "json" };

interface Step {
  name: string;
  args: string[];
}

/** Every folder holding TypeScript that must type-check. */
const CHECKED_ROOTS = ["mod.ts", "src", "scripts", "tests", "bench", "examples"];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

const roots: string[] = [];
for (const root of CHECKED_ROOTS) if (await exists(root)) roots.push(root);
const exportPaths = Object.values(denoJson.exports as Record<string, string>);

const steps: Step[] = [
  { name: "fmt", args: ["fmt", "--check"] },
  { name: "lint", args: ["lint"] },
  { name: "type-check", args: ["check", ...roots] },
  { name: "doc lint", args: ["doc", "--lint", ...exportPaths] },
  { name: "generated scripts", args: ["run", "-A", "scripts/gen_scripts.ts", "--check"] },
];

const failed: string[] = [];
for (const step of steps) {
  console.log(`\n== ${step.name}: deno ${step.args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), { args: step.args }).spawn().status;
  if (code !== 0) failed.push(step.name);
}
if (failed.length > 0) {
  console.error(`\ncheck failed: ${failed.join(", ")}`);
  Deno.exit(1);
}
console.log("\ncheck passed");
