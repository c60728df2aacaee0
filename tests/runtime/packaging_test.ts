/**
 * The npm build's pure parts: which packages are peers, what package.json
 * promises, and which README links would be dead on npm. The consumer step of
 * run.ts proves the result in a real install; these pin the rules down case by
 * case. Run with `deno test --no-config tests/runtime/packaging_test.ts` (run.ts
 * does, before it builds anything).
 */
import assert from "node:assert/strict";
import { brokenLinks } from "../../scripts/_build/markdown_links.ts";
import { createPackageJson, MINIMUM_NODE } from "../../scripts/_build/package_json.ts";
import { type Peer, PEERS, splitPeers } from "../../scripts/_build/peers.ts";

const HONO: Peer = { range: "^4.6.9", oldest: "4.6.9", optional: false };
const UPSTASH: Peer = { range: "^1.0.0", oldest: "1.0.0", optional: true };
const CONFIG = { name: "@kiln/core", version: "0.1.0", exports: { ".": "./mod.ts" } };

Deno.test("splitPeers() keeps hono out of dependencies and builds against deno.json's version", () => {
  const split = splitPeers(
    { hono: "^4.13.19", jose: "^6.2.18" },
    { hono: HONO, "@upstash/redis": UPSTASH },
  );
  assert.deepEqual(split.dependencies, { jose: "^6.2.18" });
  assert.deepEqual(split.peerDependencies, { hono: "^4.6.9", "@upstash/redis": "^1.0.0" });
  assert.deepEqual(split.devDependencies, { hono: "^4.13.19" });
  assert.deepEqual(split.optionalPeers, ["@upstash/redis"]);
});

Deno.test("splitPeers() refuses an import map range the peer range does not promise", () => {
  // The build would type-check against hono 5 while users are told any 4.x works.
  assert.throws(() => splitPeers({ hono: "^5.0.0" }, { hono: HONO }), RangeError);
  // … or against 4.5, older than the oldest version the consumer step proves.
  assert.throws(() => splitPeers({ hono: "^4.5.0" }, { hono: HONO }), RangeError);
  // A range the check cannot reason about is refused rather than guessed at.
  assert.throws(() => splitPeers({ hono: ">=4" }, { hono: HONO }), RangeError);
  assert.throws(() => splitPeers({ hono: "^4.13.19" }, { hono: { ...HONO, range: "4.x" } }));
});

Deno.test("the declared peer floors are the versions the consumer step installs", () => {
  for (const [name, peer] of Object.entries(PEERS)) {
    assert.equal(peer.range, `^${peer.oldest}`, name);
    assert.match(peer.oldest, /^\d+\.\d+\.\d+$/, name);
  }
  assert.equal(PEERS.hono.optional, false);
  assert.equal(PEERS["@upstash/redis"].optional, true);
  assert.equal(PEERS["@opentelemetry/api"].optional, true);
});

Deno.test("createPackageJson() writes peers, their optional flags, engines and the shipped docs", () => {
  const manifest = createPackageJson(CONFIG, () => "./esm/mod.js", {
    dependencies: { jose: "^6.2.18" },
    peerDependencies: { hono: "^4.6.9", "@upstash/redis": "^1.0.0" },
    optionalPeers: ["@upstash/redis"],
    devDependencies: { hono: "^4.13.19" },
  });
  assert.deepEqual(manifest.dependencies, { jose: "^6.2.18" });
  assert.deepEqual(manifest.peerDependencies, { "@upstash/redis": "^1.0.0", hono: "^4.6.9" });
  assert.deepEqual(manifest.peerDependenciesMeta, { "@upstash/redis": { optional: true } });
  assert.deepEqual(manifest.engines, { node: `>=${MINIMUM_NODE}` });
  assert.equal(manifest.type, "module");
  assert.deepEqual(manifest.files, ["esm/", "docs/", "SECURITY.md"]);
  assert.deepEqual(manifest.exports, {
    ".": { types: "./esm/mod.d.ts", default: "./esm/mod.js" },
  });
});

Deno.test("createPackageJson() refuses a package that is both a dependency and a peer", () => {
  // npm would install Kiln's own copy beside the user's: the two-hono bug of issue #10.
  assert.throws(
    () =>
      createPackageJson(CONFIG, () => "./esm/mod.js", {
        dependencies: { hono: "^4.13.19" },
        peerDependencies: { hono: "^4.6.9" },
      }),
    /both a dependency and a peer/,
  );
  assert.throws(
    () =>
      createPackageJson(CONFIG, () => "./esm/mod.js", {
        dependencies: {},
        optionalPeers: ["@upstash/redis"],
      }),
    /optional but not a peer/,
  );
});

Deno.test("brokenLinks() reports links to files the package does not ship", () => {
  const shipped = new Set(["docs/QUEUES.md", "SECURITY.md", "docs/img/flow.png"]);
  const exists = (target: string) => shipped.has(target);
  const markdown = [
    "See [queues](docs/QUEUES.md#retries), [threat model](./SECURITY.md) and",
    '![flow](docs/img/flow.png "How a job flows").',
    "Counts: [runtime matrix](tests/runtime/README.md), [bench](<bench/README.md>).",
    "[site](https://example.com) [mail](mailto:a@example.com) [top](#install)",
    "",
    "[design]: docs/DESIGN.md",
  ].join("\n");
  assert.deepEqual(brokenLinks(markdown, exists), [
    "tests/runtime/README.md",
    "bench/README.md",
    "docs/DESIGN.md",
  ]);
});

Deno.test("brokenLinks() ignores link syntax inside fenced code", () => {
  const markdown = [
    "```ts",
    'const link = "[not a link](src/mod.ts)";',
    "```",
    "~~~md",
    "[also code](tests/x.md)",
    "~~~",
    "[real](missing.md)",
  ].join("\n");
  assert.deepEqual(brokenLinks(markdown, () => false), ["missing.md"]);
});

Deno.test("brokenLinks() reports a malformed percent-escape instead of throwing", () => {
  assert.deepEqual(brokenLinks("[bad](docs/%E0%A4%A.md)", () => true), ["docs/%E0%A4%A.md"]);
});
