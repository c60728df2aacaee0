/**
 * A Cloudflare Worker that takes resumable uploads (tus 1.0.0, with
 * tus-js-client's `parallelUploads`) straight into R2, and shows their
 * progress live over Kiln's realtime protocol.
 *
 * - `R2Store` on the `BUCKET` binding keeps the bytes and each upload's part list.
 * - The tus router and a realtime `Hub` run inside one Durable Object
 *   (`UploadsObject`): the upload records live in its storage
 *   (`DurableObjectUploadState`) and the upload locks in its memory, so two
 *   clients can never write one upload at once, from any isolate, without
 *   Redis; and a WebSocket accepted by the object can be written from any of
 *   its requests, so each PATCH broadcasts `upload.progress` (then
 *   `upload.complete`) to the uploader's channel `private-user.<sub>`.
 * - Every request carries a JWT (HS256, `JWT_SECRET`): tus requests in
 *   `Authorization: Bearer …`, the WebSocket in its subprotocol, as
 *   `RealtimeClient` sends it.
 * - A `scheduled` handler (a Cron Trigger) sweeps expired uploads, aborting
 *   their multipart uploads.
 *
 * One object serves every upload here; to spread the load, route by user
 * (`idFromName(sub)`) and keep each user's uploads and channel on their object.
 *
 * @module
 */
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/cloudflare-workers";
import { Hub, jwtAuth, realtime, type RealtimeUser } from "@kiln/core/realtime";
import { uploads, type UploadsApp } from "@kiln/core/upload";
import { type R2BucketBinding, R2Store } from "@kiln/core/upload/r2";
import { type DurableObjectStorageLike, DurableObjectUploadState } from "./do_state.ts";

/** The part of a Durable Object namespace binding this uses. */
interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

/** The Worker's bindings (wrangler.toml). */
export interface Env {
  BUCKET: R2BucketBinding;
  UPLOADS: DurableObjectNamespaceLike;
  /** Signs the users' tokens (HS256); `npx wrangler secret put JWT_SECRET`. */
  JWT_SECRET: string;
}

/** Where the Worker sends a Cron Trigger's sweep; never routed from outside. */
const SWEEP = "https://uploads.internal/sweep";

/** The Durable Object that runs the tus router and the realtime hub together. */
export class UploadsObject {
  #app = new Hono();
  #files: UploadsApp;

  constructor(ctx: { storage: DurableObjectStorageLike }, env: Env) {
    const auth = jwtAuth({ secret: env.JWT_SECRET, algorithms: ["HS256"] });
    const hub = new Hub();
    // The user each tus request was authenticated as, for choosing its upload's channel.
    const users = new WeakMap<Request, RealtimeUser>();
    this.#files = uploads({
      store: new R2Store({ bucket: env.BUCKET, prefix: "uploads/" }),
      state: new DurableObjectUploadState(ctx.storage),
      maxSize: 5 * 1024 ** 3,
      expiresIn: 24 * 60 * 60 * 1000,
      broadcastProgress: {
        hub,
        channel: (_upload, request) => {
          const user = users.get(request);
          return user && `private-user.${user.id}`;
        },
      },
    });
    this.#app.get(
      "/ws",
      realtime(hub, {
        upgradeWebSocket,
        auth,
        authorize: (user, channel) => channel.name === `private-user.${user.id}`,
      }),
    );
    this.#app.use("/files/*", async (c, next) => {
      // A browser's CORS preflight carries no credentials.
      if (c.req.method === "OPTIONS") return await next();
      const header = c.req.header("Authorization") ?? "";
      try {
        if (!header.startsWith("Bearer ")) throw new Error("no bearer token");
        users.set(c.req.raw, (await auth.authenticate(header.slice(7))).user);
      } catch {
        return c.text("Sign in first", 401, { "Tus-Resumable": "1.0.0" });
      }
      await next();
    });
    this.#app.route("/files", this.#files);
  }

  async fetch(request: Request): Promise<Response> {
    if (request.url === SWEEP) {
      return Response.json(await this.#files.cleanupExpired());
    }
    return await this.#app.fetch(request);
  }
}

/** Every upload and socket goes to the one `UploadsObject`. */
function uploadsObject(env: Env) {
  return env.UPLOADS.get(env.UPLOADS.idFromName("uploads"));
}

export default {
  fetch(request: Request, env: Env): Promise<Response> | Response {
    const { pathname } = new URL(request.url);
    if (pathname === "/ws" || pathname === "/files" || pathname.startsWith("/files/")) {
      return uploadsObject(env).fetch(request);
    }
    return new Response("Not found", { status: 404 });
  },
  /** A Cron Trigger: removes expired uploads, aborting their multipart uploads. */
  async scheduled(_event: unknown, env: Env): Promise<void> {
    const response = await uploadsObject(env).fetch(new Request(SWEEP, { method: "POST" }));
    // A failed sweep fails the trigger, so it shows in the Worker's cron logs.
    if (!response.ok) throw new Error(`The sweep answered ${response.status}`);
    await response.body?.cancel();
  },
};
