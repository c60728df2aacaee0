/**
 * The tus 1.0.0 server: a Hono router for resumable uploads.
 *
 * @module
 */
import { Hono } from "hono";
import { validateOptions } from "./_config.ts";
import { TusHandler } from "./_tus_handler.ts";
import type { UploadsOptions } from "./server_options.ts";

/** What {@linkcode UploadsApp.cleanupExpired} did. */
export interface CleanupResult {
  /** Unfinished uploads removed (bytes and record). */
  removed: number;
  /** Records of finished uploads forgotten (their files stay). */
  forgotten: number;
}

/** The router {@linkcode uploads} returns: a Hono app plus maintenance. */
export type UploadsApp = Hono & {
  /**
   * Removes expired unfinished uploads and forgets old finished ones; call it
   * from a scheduled task.
   *
   * @returns What was done.
   */
  cleanupExpired(): Promise<CleanupResult>;
};

/**
 * Creates a tus 1.0.0 server (core, creation, creation-with-upload,
 * creation-defer-length, expiration, checksum with sha1 and sha256,
 * termination) as a Hono router. Request bodies stream into the store chunk
 * by chunk; memory stays flat whatever the file size.
 *
 * @param options The store, state, limits and hooks.
 * @returns The router; mount it with `app.route("/files", router)` (no trailing slash): it
 * then answers both `/files` and `/files/`, and `/files/<id>`.
 * @throws {TypeError} When an option is missing or malformed.
 * @throws {RangeError} When a number option is out of range.
 *
 * @example Accepting images up to 50 MiB
 * ```ts
 * import { Hono } from "hono";
 * import { MemoryStore, uploads } from "@kiln/core/upload";
 * import assert from "node:assert/strict";
 *
 * const files = uploads({
 *   store: new MemoryStore(),
 *   maxSize: 50 * 1024 * 1024,
 *   allowedTypes: ["image/*"],
 *   onComplete: (upload) => console.log("stored", upload.id, upload.type),
 * });
 * const app = new Hono().route("/files", files);
 * const response = await app.request("/files", { method: "OPTIONS" });
 * assert.equal(response.headers.get("Tus-Version"), "1.0.0");
 * ```
 */
export function uploads(options: UploadsOptions): UploadsApp {
  const config = validateOptions(options);
  const app = new Hono();
  const handler = new TusHandler(config);
  app.all("/", (c) => handler.handle(c.req.raw, null));
  // "<mount>/" too: tus-js-client's examples write the endpoint with a trailing slash, and
  // Hono's strict routing would answer 404. The param can only match the empty string.
  app.all("/:empty{(?:)}", (c) => handler.handle(c.req.raw, null));
  app.all("/:id", (c) => handler.handle(c.req.raw, c.req.param("id")));
  return Object.assign(app, { cleanupExpired: () => handler.cleanupExpired() });
}
