/**
 * Refusals before the upgrade are Hono `HTTPException`s: without an
 * `app.onError` the answer is Kiln's default (status, headers, body), and an
 * application's `onError` can reshape every one of them.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { upgradeWebSocket } from "hono/deno";
import { Hub } from "../../src/realtime/hub.ts";
import { jwtAuth } from "../../src/realtime/jwt_auth.ts";
import { realtime } from "../../src/realtime/realtime.ts";
import { AuthError } from "../../src/realtime/errors.ts";
import type { WebSocketAuth } from "../../src/realtime/auth.ts";
import { AUDIENCE, ISSUER, SECRET, sign } from "./_support/server.ts";

/** An app whose /ws refuses in every way; `shape` installs an onError. */
function app(hub: Hub, shape?: (app: Hono) => void): Hono {
  const verify = jwtAuth({
    secret: SECRET,
    algorithms: ["HS256"],
    issuer: ISSUER,
    audience: AUDIENCE,
  });
  // "keys-down" stands for a key server that cannot be reached.
  const auth: WebSocketAuth = {
    authenticate: (token) =>
      token === "keys-down"
        ? Promise.reject(new AuthError("key_unavailable", "The signing keys could not be fetched"))
        : verify.authenticate(token),
  };
  const result = new Hono();
  shape?.(result);
  result.get("/ws", realtime(hub, { upgradeWebSocket, auth, origins: ["https://app.test"] }));
  return result;
}

function upgrade(headers: Record<string, string> = {}): RequestInit {
  return { headers: { upgrade: "websocket", origin: "https://app.test", ...headers } };
}

const protocol = (token: string) => ({ "sec-websocket-protocol": `kiln.v1, bearer.${token}` });

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | null>;
}

async function answer(response: Response): Promise<Answer> {
  return {
    status: response.status,
    body: await response.text(),
    headers: {
      "content-type": response.headers.get("content-type"),
      "www-authenticate": response.headers.get("www-authenticate"),
      "retry-after": response.headers.get("retry-after"),
      upgrade: response.headers.get("upgrade"),
    },
  };
}

/** Every refusal, as [name, request]. The hub caps alice at one connection, held. */
async function refusals(hub: Hub): Promise<Array<[string, RequestInit]>> {
  await hub.admit("alice");
  return [
    ["cross-origin", upgrade({ origin: "https://evil.test" })],
    ["not an upgrade", { headers: { origin: "https://app.test" } }],
    ["first subprotocol not ours", upgrade({ "sec-websocket-protocol": "chat, bearer.x" })],
    ["no token", upgrade()],
    ["bad token", upgrade(protocol("not-a-jwt"))],
    ["key server down", upgrade(protocol("keys-down"))],
    ["over the per-user cap", upgrade(protocol(await sign("alice")))],
  ];
}

const TEXT = "text/plain; charset=UTF-8";
const none = { "www-authenticate": null, "retry-after": null, upgrade: null };

Deno.test("realtime() refusals keep their default answers when the app has no onError", async () => {
  const hub = new Hub({ maxConnectionsPerUser: 1, onError: () => {} });
  try {
    const web = app(hub);
    const got: Record<string, Answer> = {};
    for (const [name, init] of await refusals(hub)) {
      got[name] = await answer(await web.request("/ws", init));
    }
    assert.deepEqual(got, {
      "cross-origin": {
        status: 403,
        body: "Origin not allowed",
        headers: { ...none, "content-type": TEXT },
      },
      "not an upgrade": {
        status: 426,
        body: "Expected a WebSocket upgrade",
        headers: { ...none, "content-type": TEXT, upgrade: "websocket" },
      },
      "first subprotocol not ours": {
        status: 400,
        body: "The first subprotocol must be kiln.v1",
        headers: { ...none, "content-type": TEXT },
      },
      "no token": {
        status: 401,
        body: "Unauthorized",
        headers: { ...none, "content-type": TEXT, "www-authenticate": 'Bearer realm="kiln"' },
      },
      "bad token": {
        status: 401,
        body: "Unauthorized",
        headers: {
          ...none,
          "content-type": TEXT,
          "www-authenticate":
            'Bearer realm="kiln", error="invalid_token", error_description="The token is malformed"',
        },
      },
      "key server down": {
        status: 503,
        body: "Signing keys unavailable",
        headers: { ...none, "content-type": TEXT, "retry-after": "5" },
      },
      "over the per-user cap": {
        status: 429,
        body: "Too many connections for this user",
        headers: { ...none, "content-type": TEXT },
      },
    });
    await hub.close();
    const closed = await web.request("/ws", upgrade(protocol(await sign("bob"))));
    assert.deepEqual(await answer(closed), {
      status: 503,
      body: "The server is shutting down",
      headers: { ...none, "content-type": TEXT },
    });
  } finally {
    await hub.close();
  }
});

Deno.test("realtime() refusals reach app.onError as HTTPExceptions, which it can reshape", async () => {
  const hub = new Hub({ maxConnectionsPerUser: 1, onError: () => {} });
  try {
    const seen: unknown[] = [];
    const web = app(hub, (web) =>
      web.onError((error, c) => {
        seen.push(error);
        if (!(error instanceof HTTPException)) return c.json({ error: "internal" }, 500);
        // Keep Kiln's headers (WWW-Authenticate, Retry-After, Upgrade), change the body.
        const response = error.getResponse();
        return c.json({ error: error.message, status: error.status }, error.status, {
          ...Object.fromEntries(
            [...response.headers].filter(([name]) => name !== "content-type"),
          ),
        });
      }));
    const list = await refusals(hub);
    for (const [name, init] of list) {
      const response = await web.request("/ws", init);
      const body = await response.json();
      assert.equal(response.headers.get("content-type"), "application/json", name);
      assert.equal(body.status, response.status, name);
      assert.ok(typeof body.error === "string" && body.error.length > 0, name);
      if (response.status === 401) assert.ok(response.headers.get("www-authenticate"), name);
    }
    assert.equal(seen.length, list.length);
    assert.ok(seen.every((error) => error instanceof HTTPException));
    // The cause of an authentication refusal is kept for the application's logs.
    const unauthorized = seen[4] as HTTPException;
    assert.equal(unauthorized.status, 401);
    assert.ok(unauthorized.cause instanceof AuthError);
  } finally {
    await hub.close();
  }
});
