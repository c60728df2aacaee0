/**
 * Pusher's HTTP API on the hub: publish events, list channels and users,
 * terminate a user's connections. Every request is signed by the app.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import * as v from "valibot";
import type { Clock } from "../../clock.ts";
import { CloseCode } from "../close_codes.ts";
import type { Hub } from "../hub.ts";
import { CHANNEL_NAME_PATTERN } from "../protocol.ts";
import type { PusherApp, PusherAppLookup } from "./app.ts";
import { verifyRequest } from "./_request_signature.ts";
import { SERVER_TO_USER } from "./_wire.ts";

/** What the HTTP API needs. */
export interface HttpApiSettings {
  readonly hub: Hub;
  readonly lookup: PusherAppLookup;
  readonly clock: Clock;
  /** Largest `data` of one event, in bytes. */
  readonly maxEventBytes: number;
}

const channelName = v.pipe(v.string(), v.regex(CHANNEL_NAME_PATTERN, "Invalid channel name"));
const eventName = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(200),
  // Names of the protocol's own events would let a back end forge them to every client.
  v.check((name) => !name.startsWith("pusher"), "Event names may not start with pusher"),
);
const socketId = v.pipe(v.string(), v.regex(/^\d+\.\d+$/, "Invalid socket_id"));
const EventSchema = v.object({
  name: eventName,
  data: v.string(),
  channels: v.optional(v.pipe(v.array(channelName), v.minLength(1), v.maxLength(100))),
  channel: v.optional(channelName),
  socket_id: v.optional(socketId),
  info: v.optional(v.string()),
});
const BatchSchema = v.object({
  batch: v.pipe(
    v.array(v.object({
      name: eventName,
      data: v.string(),
      channel: channelName,
      socket_id: v.optional(socketId),
      info: v.optional(v.string()),
    })),
    v.maxLength(10),
  ),
});

type Env = { Variables: { app: PusherApp; body: string } };

/** The HTTP API's routes, under `/apps/:id/`. */
export function httpApi(settings: HttpApiSettings): Hono<Env> {
  const { hub } = settings;
  const api = new Hono<Env>();
  api.use(
    "/apps/:id/*",
    bodyLimit({
      // Ten events of the largest size, with room for their JSON.
      maxSize: settings.maxEventBytes * 10 + 16_384,
      onError: () => {
        throw new HTTPException(413, { message: "Request body too large" });
      },
    }),
    async (c, next) => {
      const app = await settings.lookup({ id: c.req.param("id") ?? "" });
      if (app === null) throw new HTTPException(404, { message: "Unknown app" });
      const body = c.req.method === "GET" ? "" : await c.req.text();
      await verifyRequest(c.req.raw, body, app, settings.clock);
      c.set("app", app);
      c.set("body", body);
      await next();
    },
  );

  api.post("/apps/:id/events", async (c) => {
    const event = parse(EventSchema, c.get("body"));
    const channels = event.channels ?? (event.channel !== undefined ? [event.channel] : []);
    if (channels.length === 0) throw new HTTPException(400, { message: "Name a channel" });
    checkSize(event.data, settings.maxEventBytes);
    const data = decodeData(event.data);
    await Promise.all(
      channels.map((channel) =>
        hub.broadcast(channel, event.name, data, { except: event.socket_id })
      ),
    );
    const fields = infoFields(event.info);
    if (fields.size === 0) return c.json({});
    const found = await counts(hub, channels, fields);
    return c.json({ channels: Object.fromEntries(channels.map((name, i) => [name, found[i]])) });
  });

  api.post("/apps/:id/batch_events", async (c) => {
    const { batch } = parse(BatchSchema, c.get("body"));
    for (const event of batch) checkSize(event.data, settings.maxEventBytes);
    await Promise.all(
      batch.map((event) =>
        hub.broadcast(event.channel, event.name, decodeData(event.data), {
          except: event.socket_id,
        })
      ),
    );
    const fields = batch.map((event) => infoFields(event.info));
    const asked = batch.filter((_, i) => fields[i].size > 0);
    const found = await counts(
      hub,
      asked.map((event) => event.channel),
      new Set(fields.flatMap((f) => [...f])),
    );
    let next = 0;
    return c.json({
      batch: batch.map((_, i) => fields[i].size === 0 ? {} : pick(found[next++], fields[i])),
    });
  });

  api.get("/apps/:id/channels", async (c) => {
    const prefix = c.req.query("filter_by_prefix") ?? "";
    const userCount = infoFields(c.req.query("info")).has("user_count");
    if (userCount && !prefix.startsWith("presence-")) {
      throw new HTTPException(400, { message: "user_count needs filter_by_prefix=presence-" });
    }
    const names = [...(await hub.channels()).keys()].filter((name) =>
      !name.startsWith(SERVER_TO_USER) && name.startsWith(prefix)
    );
    const users = userCount
      ? await Promise.all(
        names.map(async (name) => ({ user_count: (await hub.members(name)).length })),
      )
      : names.map(() => ({}));
    return c.json({ channels: Object.fromEntries(names.map((name, i) => [name, users[i]])) });
  });

  api.get("/apps/:id/channels/:name", async (c) => {
    const name = channel(c.req.param("name"));
    const info = infoFields(c.req.query("info"));
    const presence = name.startsWith("presence-");
    if (info.has("user_count") && !presence) {
      throw new HTTPException(400, { message: "user_count is for presence channels" });
    }
    const [all] = await counts(hub, [name], new Set(["user_count", "subscription_count"]));
    return c.json({
      occupied: all.subscription_count! > 0 || (all.user_count ?? 0) > 0,
      ...(info.has("user_count") ? { user_count: all.user_count } : {}),
      ...(info.has("subscription_count") ? { subscription_count: all.subscription_count } : {}),
    });
  });

  api.get("/apps/:id/channels/:name/users", async (c) => {
    const name = channel(c.req.param("name"));
    if (!name.startsWith("presence-")) {
      throw new HTTPException(400, { message: "Users are listed for presence channels only" });
    }
    return c.json({ users: (await hub.members(name)).map((member) => ({ id: member.id })) });
  });

  api.post("/apps/:id/users/:userId/terminate_connections", async (c) => {
    await hub.disconnect(c.req.param("userId"), CloseCode.Refused, "terminated");
    return c.json({});
  });

  return api;
}

function parse<T>(schema: v.GenericSchema<unknown, T>, body: string): T {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new HTTPException(400, { message: "The body is not JSON" });
  }
  const result = v.safeParse(schema, json);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const path = issue.path?.map((item) => String(item.key)).join(".");
  throw new HTTPException(400, {
    message: path ? `Invalid ${path}: ${issue.message}` : issue.message,
  });
}

function channel(name: string | undefined): string {
  if (name === undefined || !CHANNEL_NAME_PATTERN.test(name)) {
    throw new HTTPException(400, { message: "Invalid channel name" });
  }
  return name;
}

function checkSize(data: string, max: number): void {
  if (new TextEncoder().encode(data).byteLength > max) {
    throw new HTTPException(413, { message: `Event data is larger than ${max} bytes` });
  }
}

/** A channel's counts, as the `info` parameter asks for them. */
interface ChannelCounts {
  subscription_count?: number;
  user_count?: number;
}

/**
 * The counts `fields` asks for, per channel of `names`: subscriptions on every
 * instance (one read for all of them), and users of a presence channel (from
 * the shared presence store); `user_count` is left out of other channels.
 */
async function counts(hub: Hub, names: string[], fields: Set<string>): Promise<ChannelCounts[]> {
  const subscriptions = fields.has("subscription_count") ? await hub.channels(names) : null;
  return await Promise.all(names.map(async (name) => {
    const result: ChannelCounts = {};
    if (subscriptions) result.subscription_count = subscriptions.get(name) ?? 0;
    if (fields.has("user_count") && name.startsWith("presence-")) {
      result.user_count = (await hub.members(name)).length;
    }
    return result;
  }));
}

/** The counts one batch event asked for, out of those read for the whole batch. */
function pick(found: ChannelCounts, fields: Set<string>): ChannelCounts {
  const result: ChannelCounts = {};
  if (fields.has("subscription_count")) result.subscription_count = found.subscription_count;
  if (found.user_count !== undefined && fields.has("user_count")) {
    result.user_count = found.user_count;
  }
  return result;
}

function infoFields(info: string | undefined): Set<string> {
  return new Set((info ?? "").split(",").filter(Boolean));
}

/**
 * The API's `data` is a string; the hub carries JSON values. A JSON string
 * is carried as its value (Kiln clients get the object), anything else as the
 * string itself; Pusher clients get it back as the same JSON text.
 */
function decodeData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}
