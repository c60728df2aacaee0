/**
 * Finds relative links in Markdown that point outside what a package ships.
 *
 * npm renders the README on the package page and users read `docs/` inside
 * node_modules; a link to a file left out of the package is a dead end there,
 * so the build refuses it.
 *
 * @module
 */

/**
 * Lists the relative link targets in a Markdown text that `exists` rejects.
 * Absolute URLs (`https:`, `mailto:`) and in-page anchors (`#limits`) are not
 * checked; a target's own anchor or query is dropped before the lookup.
 * Links inside fenced code blocks are ignored: they are code, not links.
 *
 * @param markdown The Markdown text.
 * @param exists Whether a target, relative to the Markdown file, is shipped.
 * @returns The targets that are not, in order of appearance.
 *
 * @example A link into the repository's tests is not shipped
 * ```ts
 * import { brokenLinks } from "./markdown_links.ts";
 * import assert from "node:assert/strict";
 *
 * const text = "[queues](docs/QUEUES.md), [counts](tests/runtime/README.md), " +
 *   "[site](https://example.com), [limits](#limits)";
 * const shipped = new Set(["docs/QUEUES.md"]);
 * assert.deepEqual(brokenLinks(text, (target) => shipped.has(target)), [
 *   "tests/runtime/README.md",
 * ]);
 * ```
 */
export function brokenLinks(markdown: string, exists: (target: string) => boolean): string[] {
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
  const broken: string[] = [];
  // Inline links and images `[text](target "title")`, and reference definitions `[id]: target`.
  const patterns = [
    /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g,
    /^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$/gm,
  ];
  for (const pattern of patterns) {
    for (const [, raw] of prose.matchAll(pattern)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(raw) || raw.startsWith("#")) continue;
      let target: string;
      try {
        target = decodeURI(raw.replace(/[#?].*$/, "")).replace(/^\.\//, "");
      } catch {
        broken.push(raw); // A malformed escape resolves nowhere.
        continue;
      }
      if (target === "" || exists(target)) continue;
      broken.push(raw);
    }
  }
  return broken;
}
