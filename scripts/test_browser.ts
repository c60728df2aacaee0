/**
 * `deno task test:browser`: the demo and the dashboard in Debian's Chromium,
 * driven by playwright-core (tests/browser/*_browser.ts). Needs
 * `/usr/bin/chromium` (`apt-get install -y chromium`; `.ci/run` installs it).
 *
 * @module
 */
const CHROMIUM = "/usr/bin/chromium";

try {
  await Deno.stat(CHROMIUM);
} catch {
  console.error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  Deno.exit(1);
}
const dir = new URL("../tests/browser/", import.meta.url);
const files = [...Deno.readDirSync(dir)]
  .filter((entry) => entry.isFile && entry.name.endsWith("_browser.ts"))
  .map((entry) => new URL(entry.name, dir).pathname)
  .sort();
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", ...Deno.args, ...files],
  stdin: "null",
}).spawn();
Deno.exit((await child.status).code);
