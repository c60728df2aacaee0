import assert from "node:assert/strict";
import { generateKeyPair, SignJWT } from "jose";
import { rawUpgrade, TestClient } from "./_support/ws_client.ts";
import { AUDIENCE, ISSUER, SECRET, sign, startServer } from "./_support/server.ts";

const encoder = new TextEncoder();

function base64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
}

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { sub: "user-1", iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 3600, ...overrides };
}

async function hs256(payload: Record<string, unknown>, secret = SECRET): Promise<string> {
  return await new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).sign(
    encoder.encode(secret),
  );
}

async function hostileTokens(): Promise<Record<string, string>> {
  const valid = await sign("user-1");
  const [header, , signature] = valid.split(".");
  const { privateKey } = await generateKeyPair("RS256");
  const now = Math.floor(Date.now() / 1000);
  return {
    "alg none": `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims())}.`,
    "a tampered payload": `${header}.${base64url(claims({ sub: "admin" }))}.${signature}`,
    "the wrong key": await hs256(claims(), "another-secret-another-secret-another!"),
    "an expired token": await hs256(claims({ exp: now - 60 })),
    "a token not yet valid": await hs256(claims({ nbf: now + 600 })),
    "the wrong issuer": await hs256(claims({ iss: "https://evil.test" })),
    "the wrong audience": await hs256(claims({ aud: "someone-else" })),
    "an RS256 token against an HS256 configuration": await new SignJWT(claims())
      .setProtectedHeader({ alg: "RS256" }).sign(privateKey),
    "garbage": "not-a-jwt-at-all",
    "three garbage parts": "aaa.bbb.ccc",
  };
}

Deno.test("realtime() refuses every hostile token with 401 and WWW-Authenticate before upgrading", async () => {
  await using server = startServer();
  for (const [name, token] of Object.entries(await hostileTokens())) {
    const response = await rawUpgrade(server.url, {
      Origin: "https://app.test",
      "Sec-WebSocket-Protocol": `kiln.v1, bearer.${token}`,
    });
    assert.equal(response.status, 401, name);
    const challenge = response.headers.get("www-authenticate") ?? "";
    assert.match(challenge, /^Bearer realm="kiln", error="invalid_token"/, name);
    assert.ok(!challenge.includes(token), `${name}: the token is never reflected`);
    assert.equal(response.headers.get("upgrade"), null, `${name}: no upgrade happened`);
  }
  assert.equal(server.hub.size, 0);
});

Deno.test("realtime() answers a request without a token with a bare Bearer challenge", async () => {
  await using server = startServer();
  const response = await rawUpgrade(server.url, {
    Origin: "https://app.test",
    "Sec-WebSocket-Protocol": "kiln.v1",
  });
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="kiln"');
});

Deno.test("realtime() refuses a cross-origin upgrade with 403 even with a valid token", async () => {
  await using server = startServer();
  const token = await sign("user-1");
  const response = await rawUpgrade(server.url, {
    Origin: "https://evil.test",
    "Sec-WebSocket-Protocol": `kiln.v1, bearer.${token}`,
  });
  assert.equal(response.status, 403);
});

Deno.test("realtime() defaults to allowing only the request's own host as origin", async () => {
  await using server = startServer({ realtime: { origins: undefined } });
  const token = await sign("user-1");
  const host = new URL(server.url).host;
  const foreign = await rawUpgrade(server.url, {
    Origin: "https://evil.test",
    "Sec-WebSocket-Protocol": `kiln.v1, bearer.${token}`,
  });
  assert.equal(foreign.status, 403);
  const same = await rawUpgrade(server.url, {
    Origin: `http://${host}`,
    "Sec-WebSocket-Protocol": `kiln.v1, bearer.${token}`,
  });
  assert.equal(same.status, 101);
});

Deno.test("realtime() refuses a subprotocol list that does not start with kiln.v1, so the token is never echoed", async () => {
  await using server = startServer();
  const token = await sign("user-1");
  const response = await rawUpgrade(server.url, {
    Origin: "https://app.test",
    "Sec-WebSocket-Protocol": `bearer.${token}, kiln.v1`,
  });
  assert.equal(response.status, 400);
  assert.equal(response.headers.get("sec-websocket-protocol"), null);
});

Deno.test("realtime() answers a plain GET with 426 Upgrade Required", async () => {
  await using server = startServer();
  const response = await fetch(server.url.replace("ws:", "http:"), {
    headers: { origin: "https://app.test" },
  });
  assert.equal(response.status, 426);
  await response.body?.cancel();
});

Deno.test("a valid token in the subprotocol upgrades, and the server echoes only kiln.v1", async () => {
  await using server = startServer();
  const token = await sign("user-1", { claims: { name: "Ada", role: "admin" } });
  const response = await rawUpgrade(server.url, {
    Origin: "https://app.test",
    "Sec-WebSocket-Protocol": `kiln.v1, bearer.${token}`,
  });
  assert.equal(response.status, 101);
  assert.equal(response.headers.get("sec-websocket-protocol"), "kiln.v1");

  await using client = await TestClient.connect(server.url, token);
  assert.equal(client.socket.protocol, "kiln.v1");
  // The welcome names the user from the token, with only the exposed claims.
  client.send({ type: "ping" });
  await client.next("pong");
});

Deno.test("welcome carries the connection id, the user with exposed claims only, and the expiry", async () => {
  await using server = startServer();
  const now = Date.now();
  const token = await sign("user-7", {
    now,
    expiresIn: 600,
    claims: { name: "Ada", role: "admin" },
  });
  const client = new TestClient(server.url, token, { headers: { origin: "https://app.test" } });
  await using _ = client;
  const welcome = await client.next("welcome");
  assert.match(welcome.connectionId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(welcome.user, { id: "user-7", claims: { name: "Ada" } });
  assert.equal(welcome.expiresAt, (Math.floor(now / 1000) + 600) * 1000);
});

Deno.test("a token in the named cookie is accepted when the cookie option is set", async () => {
  await using server = startServer({ realtime: { cookie: "kiln_token" } });
  const token = await sign("user-2");
  const refused = await rawUpgrade(server.url, {
    Origin: "https://app.test",
    Cookie: `other=1; wrong_name=${token}`,
  });
  assert.equal(refused.status, 401);
  const accepted = await rawUpgrade(server.url, {
    Origin: "https://app.test",
    Cookie: `other=1; kiln_token=${token}`,
  });
  assert.equal(accepted.status, 101);
  assert.equal(accepted.headers.get("sec-websocket-protocol"), null);
});

Deno.test("the token cookie is read safely from hostile Cookie headers", async (t) => {
  await using server = startServer({ realtime: { cookie: "kiln_token" } });
  const token = await sign("user-2");
  const forged = await sign("user-2", { claims: {} }).then((jwt) => `${jwt.slice(0, -4)}AAAA`);
  const upgrade = (cookie: string) =>
    rawUpgrade(server.url, { Origin: "https://app.test", Cookie: cookie });
  const cases: Array<[string, string, number]> = [
    ["a quoted value (RFC 6265 allows DQUOTEs around it)", `kiln_token="${token}"`, 101],
    ["the first of two cookies with the name wins", `kiln_token=${token}; kiln_token=junk`, 101],
    [
      "a forged first copy is not rescued by a good second",
      `kiln_token=${forged}; kiln_token=${token}`,
      401,
    ],
    ["a pair without '=' is skipped", `garbage; kiln_token=${token}`, 101],
    ["the name alone is no token", "kiln_token", 401],
    ["an empty value is no token", "kiln_token=; other=1", 401],
    ["a name that only ends with ours is not ours", `xkiln_token=${token}`, 401],
    ["a value with a malformed escape is refused", "kiln_token=%E0%A4%A", 401],
    ["a header of 8 KiB of other cookies", `${"a=b; ".repeat(1_400)}kiln_token=${token}`, 101],
  ];
  for (const [name, cookie, status] of cases) {
    await t.step(name, async () => assert.equal((await upgrade(cookie)).status, status));
  }
});

Deno.test("a ?token= query parameter is ignored unless queryToken is enabled", async () => {
  const token = await sign("user-3");
  {
    await using server = startServer();
    const response = await rawUpgrade(`${server.url}?token=${token}`, {
      Origin: "https://app.test",
    });
    assert.equal(response.status, 401);
  }
  {
    await using server = startServer({ realtime: { queryToken: true } });
    const response = await rawUpgrade(`${server.url}?token=${token}`, {
      Origin: "https://app.test",
    });
    assert.equal(response.status, 101);
  }
});
