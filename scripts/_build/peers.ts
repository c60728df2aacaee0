/**
 * The packages `@kiln/core` takes from the user's own install rather than
 * bringing its own copy: peer dependencies, with the widest range proven to
 * work.
 *
 * A Hono app built with the user's `hono` must accept the middleware Kiln
 * returns; with a second copy of `hono` under `@kiln/core` the two `Hono`
 * classes differ (private fields make them nominal), and `app.get("/ws",
 * realtime(…))` fails with TS2769. `@upstash/redis` is the user's client passed
 * in as `{ redis }`; Kiln never imports it, so it is optional: an app on the
 * memory backends does not need it. `@opentelemetry/api` is optional too: an
 * application that traces passes it in (`new Queue({ tracing: otel })`).
 *
 * The floors come from trying releases against the npm build (type-check with
 * `tsc --noEmit` and run under Node); `deno task test:runtime` re-proves both
 * ends of each range on every run (its "consumer" step, tests/runtime/_consumer.ts).
 *
 * @module
 */

/** One peer dependency of the npm package. */
export interface Peer {
  /** The semver range written to `peerDependencies`: `^<oldest>`. */
  range: string;
  /** The oldest release in the range, installed by the consumer test. */
  oldest: string;
  /** Marked optional in `peerDependenciesMeta`, so npm neither installs nor demands it. */
  optional: boolean;
}

/**
 * Every peer dependency. The build keeps these out of `dependencies`, type-checks
 * against the version deno.json's import map names (a devDependency of npm/), and
 * fails when the import map's range leaves the peer range's major.
 *
 * @example Reading a peer's floor
 * ```ts
 * import { PEERS } from "./peers.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(PEERS.hono.range, `^${PEERS.hono.oldest}`);
 * ```
 */
export const PEERS: Readonly<Record<string, Peer>> = {
  hono: peer("4.6.9", false),
  "@upstash/redis": peer("1.0.0", true),
  // Traces (`QueueOptions.tracing`): passed in by the application, never imported, so the
  // graph walk never sees it. Kiln uses only what the 1.x API has had since 1.0.
  "@opentelemetry/api": peer("1.0.0", true),
};

function peer(oldest: string, optional: boolean): Peer {
  return { range: `^${oldest}`, oldest, optional };
}

/** The npm/package.json fields that {@linkcode splitPeers} fills. */
export interface SplitDependencies {
  /** Packages installed with `@kiln/core`. */
  dependencies: Record<string, string>;
  /** Packages the user installs, with the peer range. */
  peerDependencies: Record<string, string>;
  /** Peers the package works without. */
  optionalPeers: string[];
  /** Each imported peer at the import map's range, so the build type-checks against it. */
  devDependencies: Record<string, string>;
}

/**
 * Moves the peers out of the packages the published code imports.
 *
 * @param imported Package name to the import map's range, from the module graph.
 * @param peers The peer list.
 * @returns The split.
 * @throws {RangeError} When the import map's range for a peer is not `^x.y.z`
 * inside the peer range: the build would type-check against a version users
 * are not promised, or promise one it never type-checked.
 *
 * @example hono is a peer, jose is not
 * ```ts
 * import { splitPeers } from "./peers.ts";
 * import assert from "node:assert/strict";
 *
 * const split = splitPeers(
 *   { hono: "^4.13.19", jose: "^6.2.18" },
 *   { hono: { range: "^4.12.0", oldest: "4.12.0", optional: false } },
 * );
 * assert.deepEqual(split.dependencies, { jose: "^6.2.18" });
 * assert.deepEqual(split.peerDependencies, { hono: "^4.12.0" });
 * assert.deepEqual(split.devDependencies, { hono: "^4.13.19" });
 * ```
 */
export function splitPeers(
  imported: Readonly<Record<string, string>>,
  peers: Readonly<Record<string, Peer>> = PEERS,
): SplitDependencies {
  const split: SplitDependencies = {
    dependencies: {},
    peerDependencies: {},
    optionalPeers: [],
    devDependencies: {},
  };
  for (const [name, range] of Object.entries(imported)) {
    const peer = peers[name];
    if (peer === undefined) {
      split.dependencies[name] = range;
      continue;
    }
    const floor = caretFloor(range);
    const oldest = caretFloor(peer.range);
    if (floor === undefined || oldest === undefined) {
      throw new RangeError(`${name}: expected ^x.y.z ranges, got "${range}" and "${peer.range}"`);
    }
    if (floor[0] !== oldest[0] || compare(floor, oldest) < 0) {
      throw new RangeError(
        `${name}: deno.json imports "${range}", outside the peer range "${peer.range}"`,
      );
    }
    split.devDependencies[name] = range;
  }
  for (const [name, peer] of Object.entries(peers)) {
    split.peerDependencies[name] = peer.range;
    if (peer.optional) split.optionalPeers.push(name);
  }
  return split;
}

function caretFloor(range: string): [number, number, number] | undefined {
  const match = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
