/**
 * Maps the specifiers Deno source uses onto the ones an npm package must use.
 *
 * Deno source writes `./queue.ts` and bare names that deno.json's import map
 * turns into `npm:pkg@range/sub`. Node, Bun and bundlers want `./queue.js` and
 * `pkg/sub`, with the range moved into package.json `dependencies`. Keeping the
 * mapping in one pure module lets the compiler host (type resolution) and the
 * emit transformer (output text) agree on every specifier.
 *
 * @module
 */

/** An npm package reference parsed from an `npm:` specifier. */
export interface NpmReference {
  /** The package name, with its scope if any: `@upstash/redis`. */
  name: string;
  /** The semver range after `@`, or `undefined` when the specifier has none. */
  range: string | undefined;
  /** The subpath after the name, without its leading slash: `cors`, or `""`. */
  subpath: string;
}

/** What a source specifier becomes in the npm package. */
export type MappedSpecifier =
  /** A file of this package: only the extension changes. */
  | { kind: "relative"; specifier: string }
  /** A dependency: the plain package specifier and where it came from. */
  | { kind: "npm"; specifier: string; reference: NpmReference }
  /** A runtime built-in (`node:*`), left as written. */
  | { kind: "builtin"; specifier: string };

/**
 * Parses `npm:pkg@range/sub`, `npm:/pkg@range/sub` (the form deno.json uses for
 * subpath maps) or `npm:@scope/pkg@range/sub`.
 *
 * @param specifier A specifier starting with `npm:`.
 * @returns The package name, range and subpath.
 * @throws {TypeError} When the specifier is not a well-formed `npm:` specifier.
 */
export function parseNpmSpecifier(specifier: string): NpmReference {
  const match = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@([^/]*))?(?:\/(.*))?$/.exec(specifier);
  if (match === null) throw new TypeError(`Cannot parse npm specifier "${specifier}"`);
  const [, name, range, subpath = ""] = match;
  return { name, range: range === "" ? undefined : range, subpath: subpath.replace(/\/$/, "") };
}

/**
 * Resolves a bare specifier through a Deno import map: an exact key wins, then
 * the longest key ending in `/` that prefixes it.
 *
 * @param specifier The specifier as written in source.
 * @param imports The `imports` object of deno.json.
 * @returns The mapped target, or `undefined` when no key matches.
 */
export function resolveImportMap(
  specifier: string,
  imports: Readonly<Record<string, string>>,
): string | undefined {
  if (Object.hasOwn(imports, specifier)) return imports[specifier];
  let best: string | undefined;
  for (const key of Object.keys(imports)) {
    if (key.endsWith("/") && specifier.startsWith(key) && key.length > (best?.length ?? 0)) {
      best = key;
    }
  }
  return best === undefined ? undefined : imports[best] + specifier.slice(best.length);
}

/**
 * Maps one source specifier to its npm form.
 *
 * @param specifier The specifier as written in a source file.
 * @param imports The `imports` object of deno.json.
 * @returns The mapped specifier and its kind.
 * @throws {TypeError} When the specifier cannot be published to npm (`jsr:`,
 * `https:`, a bare name missing from the import map).
 */
export function mapSpecifier(
  specifier: string,
  imports: Readonly<Record<string, string>>,
): MappedSpecifier {
  if (specifier.startsWith("./") || specifier.startsWith("../")) {
    // `.d.ts` imports never appear in Deno source; `.ts`/`.tsx`/`.mts` become JS.
    return { kind: "relative", specifier: specifier.replace(/\.(m?)tsx?$/, ".$1js") };
  }
  if (specifier.startsWith("node:")) return { kind: "builtin", specifier };
  const target = specifier.startsWith("npm:") ? specifier : resolveImportMap(specifier, imports);
  if (target === undefined) {
    throw new TypeError(`"${specifier}" is not in deno.json imports, so npm cannot resolve it`);
  }
  if (target.startsWith("node:")) return { kind: "builtin", specifier: target };
  if (!target.startsWith("npm:")) {
    throw new TypeError(
      `"${specifier}" maps to "${target}"; only npm: and node: specifiers can be published to npm`,
    );
  }
  const reference = parseNpmSpecifier(target);
  const plain = reference.subpath === ""
    ? reference.name
    : `${reference.name}/${reference.subpath}`;
  return { kind: "npm", specifier: plain, reference };
}
