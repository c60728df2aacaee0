/**
 * `ctx.tempDirectory` on Node and Bun: a fresh directory under the system's
 * temporary folder, for the file store's cases. workerd has none.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** @type {NonNullable<import("./cases/mod.mjs").CaseContext["tempDirectory"]>} */
export async function tempDirectory() {
  const path = await mkdtemp(join(tmpdir(), "kiln-runtime-"));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
