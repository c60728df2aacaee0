/**
 * `deno task bench [name ...]`: runs the benchmarks in bench/ one after another
 * (they would disturb each other's figures if run together on two cores), each
 * printing its own JSON. With names (`redis_http`, `queue`, …) only those run.
 */
const wanted = Deno.args;
const names: string[] = [];
for await (const entry of Deno.readDir(new URL(".", import.meta.url))) {
  const name = entry.name.replace(/\.ts$/, "");
  if (!entry.isFile || !entry.name.endsWith(".ts") || name === "run" || name.startsWith("_")) {
    continue;
  }
  if (wanted.length === 0 || wanted.includes(name)) names.push(name);
}
names.sort();
const unknown = wanted.filter((name) => !names.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}`);
  Deno.exit(2);
}
let failures = 0;
for (const name of names) {
  console.error(`== bench/${name}.ts`);
  const path = new URL(`./${name}.ts`, import.meta.url).pathname;
  const { code } = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", path] }).spawn()
    .status;
  if (code !== 0) failures++;
}
Deno.exit(failures === 0 ? 0 : 1);
