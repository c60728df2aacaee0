/**
 * Hostile cases for `jwtAuth({ jwksUrl })`: a key server that is down, broken, slow or
 * serving the wrong kind of key, tokens that try to steer key selection, and upgrades that
 * must be refused before any token work. Every key set comes from a real local HTTP server.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import type { WebSocketAuth } from "../../src/realtime/auth.ts";
import { AuthError } from "../../src/realtime/errors.ts";
import { systemClock } from "../../src/clock.ts";
import { jwtAuth, type JwtAuthOptions } from "../../src/realtime/jwt_auth.ts";
import { rawUpgrade } from "./_support/ws_client.ts";
import { startServer } from "./_support/server.ts";
import { silentServer } from "../support/silent_server.ts";

const encoder = new TextEncoder();

/** A local HTTP server standing in for an identity provider's JWKS endpoint. */
interface KeyServer extends AsyncDisposable {
  readonly url: string;
  /** How many requests reached it. */
  readonly requests: number;
}

function serveKeys(handler: (request: Request) => Response | Promise<Response>): KeyServer {
  let requests = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    requests++;
    return handler(request);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/.well-known/jwks.json`,
    get requests() {
      return requests;
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A 200 whose body streams `bytes` bytes of a key set, without Content-Length. */
function hugeKeySet(bytes: number): Response {
  const chunk = new TextEncoder().encode(" ".repeat(65_536));
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"keys": [], "pad": "'));
    },
    pull(controller) {
      if (sent >= bytes) {
        controller.enqueue(new TextEncoder().encode('"}'));
        controller.close();
        return;
      }
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return new Response(body, { status: 200 });
}

/** A URL on which nothing listens: the port was free a moment ago and is closed again. */
function unreachableUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return `http://127.0.0.1:${port}/jwks.json`;
}

async function es256Key(kid: string) {
  const pair = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" };
  return { ...pair, jwk, kid };
}

function claims(extra: Record<string, unknown> = {}, now = Date.now()) {
  return { sub: "u1", exp: Math.floor(now / 1000) + 600, ...extra };
}

function signEs256(
  key: { privateKey: CryptoKey; kid: string },
  payload = claims(),
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid: key.kid, ...header })
    .sign(key.privateKey);
}

async function reason(promise: unknown): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AuthError, String(error));
    return error.reason;
  }
  return "accepted";
}

function jwksAuth(url: string, options: Partial<JwtAuthOptions> = {}): WebSocketAuth {
  return jwtAuth({ jwksUrl: url, algorithms: ["ES256", "RS256"], ...options });
}

Deno.test("jwtAuth() names a key server that is down, failing or garbled key_unavailable, not a malformed token", async () => {
  const key = await es256Key("k1");
  const token = await signEs256(key);
  const servers: Array<[string, (request: Request) => Response]> = [
    ["answering 500", () => new Response("upstream exploded", { status: 500 })],
    ["answering 404", () => new Response("no such page", { status: 404 })],
    ["redirecting elsewhere", () => Response.redirect("http://127.0.0.1:1/jwks.json", 302)],
    ["serving malformed JSON", () => new Response('{"keys": [', { status: 200 })],
    ["serving HTML", () => new Response("<html>login</html>", { status: 200 })],
    ["serving JSON that is not a key set", () => Response.json({ keys: "none" })],
    ["streaming a 2 MiB key set", () => hugeKeySet(2 * 1_048_576)],
    [
      "declaring a 2 MiB key set",
      () => Response.json({ keys: [], pad: "x".repeat(2 * 1_048_576) }),
    ],
  ];
  for (const [name, handler] of servers) {
    await using server = serveKeys(handler);
    const auth = jwksAuth(server.url);
    let error: unknown;
    try {
      await auth.authenticate(token);
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof AuthError, `${name}: ${error}`);
    assert.equal(error.reason, "key_unavailable", `${name}: ${error.message}`);
    assert.equal(error.code, "REALTIME_AUTH_FAILED");
    assert.ok(server.requests >= 1, `${name}: the key server was asked`);
  }
  const down = jwksAuth(unreachableUrl());
  assert.equal(await reason(down.authenticate(token)), "key_unavailable", "unreachable");
});

Deno.test("jwtAuth() gives up on a key server that never answers after jwksTimeout", async () => {
  const key = await es256Key("k1");
  // The server holds every request until its client goes away: only a timeout ends it.
  await using server = silentServer("/jwks.json");
  const auth = jwksAuth(server.url, { jwksTimeout: 100 });
  assert.equal(await reason(auth.authenticate(await signEs256(key))), "key_unavailable");
  await server.abandoned; // the fetch itself was given up, not left hanging in the background
});

Deno.test("jwtAuth() refuses jwksTimeout that is not a positive integer", () => {
  for (const jwksTimeout of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(
      () => jwksAuth("http://127.0.0.1:1/jwks.json", { jwksTimeout }),
      RangeError,
      String(jwksTimeout),
    );
  }
});

Deno.test("an upgrade is refused with 503 and Retry-After, not hung or blamed on the token, when the key server fails", async () => {
  const key = await es256Key("k1");
  await using slow = silentServer("/jwks.json");
  await using failing = serveKeys(() => new Response("down", { status: 500 }));
  for (const [name, url] of [["slow", slow.url], ["failing", failing.url]]) {
    await using server = startServer({
      realtime: { auth: jwksAuth(url, { jwksTimeout: 100 }) },
    });
    const response = await rawUpgrade(server.url, {
      Origin: "https://app.test",
      "Sec-WebSocket-Protocol": `kiln.v1, bearer.${await signEs256(key)}`,
    });
    assert.equal(response.status, 503, name);
    assert.match(response.headers.get("retry-after") ?? "", /^\d+$/, name);
    assert.equal(
      response.headers.get("www-authenticate"),
      null,
      `${name}: the token is not blamed`,
    );
    assert.equal(response.headers.get("upgrade"), null, `${name}: no upgrade happened`);
    assert.equal(server.hub.size, 0);
  }
});

Deno.test("while the key server fails, a flood of tokens costs one fetch per back-off, not one per token", async () => {
  const key = await es256Key("k1");
  let healthy = false;
  await using server = serveKeys(() =>
    healthy ? Response.json({ keys: [key.jwk] }) : new Response("down", { status: 503 })
  );
  let now = Date.UTC(2031, 0, 1);
  const auth = jwksAuth(server.url, { clock: { ...systemClock, now: () => now } });
  const token = await signEs256(key, claims({}, now));
  for (let i = 0; i < 25; i++) {
    assert.equal(await reason(auth.authenticate(token)), "key_unavailable");
  }
  const flood = await Promise.all(
    Array.from({ length: 25 }, () => reason(auth.authenticate(token))),
  );
  assert.deepEqual(new Set(flood), new Set(["key_unavailable"]));
  assert.equal(server.requests, 1, "one failed fetch, then refusals without asking again");

  healthy = true;
  now += 1_000; // the back-off after one failure
  assert.equal((await auth.authenticate(token)).user.id, "u1");
  assert.equal(server.requests, 2, "the recovered key server is asked again after the back-off");
});

Deno.test("a symmetric (oct) key served in the JWKS can never verify a token", async () => {
  const secret = "a-shared-secret-published-by-mistake-in-the-jwks";
  const k = encoder.encode(secret).toBase64({ alphabet: "base64url", omitPadding: true });
  await using server = serveKeys(() =>
    Response.json({
      keys: [
        { kty: "oct", k, kid: "sym", alg: "HS256", use: "sig" },
        { kty: "oct", k, kid: "sym-es", alg: "ES256", use: "sig" },
        { kty: "oct", k, kid: "sym-bare" },
      ],
    })
  );
  const auth = jwksAuth(server.url);
  // Anyone can read the JWKS, so anyone could sign with this "key" if it were usable.
  for (const kid of ["sym", "sym-es", "sym-bare"]) {
    for (const alg of ["HS256", "HS384", "HS512"]) {
      const forged = await new SignJWT(claims()).setProtectedHeader({ alg, kid })
        .sign(encoder.encode(secret.repeat(2)));
      assert.equal(await reason(auth.authenticate(forged)), "unsupported_algorithm", kid);
    }
  }
  // An asymmetric token naming the oct key's kid finds no usable key.
  const attacker = await es256Key("sym-es");
  assert.equal(await reason(auth.authenticate(await signEs256(attacker))), "invalid_signature");
});

Deno.test("a token cannot bring its own key: embedded jwk, jku and x5u headers are ignored", async () => {
  const genuine = await es256Key("k1");
  await using server = serveKeys(() => Response.json({ keys: [genuine.jwk] }));
  await using attackerServer = serveKeys(() => Response.json({ keys: [] }));
  const attacker = await es256Key("k1");
  const auth = jwksAuth(server.url);
  const forged = await signEs256(attacker, claims(), {
    jwk: attacker.jwk,
    jku: attackerServer.url,
    x5u: attackerServer.url,
  });
  assert.equal(await reason(auth.authenticate(forged)), "invalid_signature");
  assert.equal(attackerServer.requests, 0, "the attacker's URL is never fetched");
  assert.equal((await auth.authenticate(await signEs256(genuine))).user.id, "u1");
});

Deno.test("a flood of unknown kids does not cause a flood of JWKS fetches while the cooldown holds", async () => {
  const key = await es256Key("k1");
  await using server = serveKeys(() => Response.json({ keys: [key.jwk] }));
  const auth = jwksAuth(server.url, { jwksCooldown: 60_000 });
  assert.equal((await auth.authenticate(await signEs256(key))).user.id, "u1");
  assert.equal(server.requests, 1);

  const forgedKid = async () => {
    const attacker = await es256Key(crypto.randomUUID());
    return reason(auth.authenticate(await signEs256(attacker)));
  };
  for (let i = 0; i < 50; i++) assert.equal(await forgedKid(), "invalid_signature");
  const concurrent = await Promise.all(Array.from({ length: 50 }, forgedKid));
  assert.deepEqual(new Set(concurrent), new Set(["invalid_signature"]));
  assert.equal(server.requests, 1, "100 unknown kids, no refetch during the cooldown");
  assert.equal((await auth.authenticate(await signEs256(key))).user.id, "u1");
});

Deno.test("a flood of unknown kids before the first fetch shares one fetch", async () => {
  const key = await es256Key("k1");
  await using server = serveKeys(() => Response.json({ keys: [key.jwk] }));
  const auth = jwksAuth(server.url);
  const tokens = await Promise.all(
    Array.from({ length: 30 }, async () => signEs256(await es256Key(crypto.randomUUID()))),
  );
  const reasons = await Promise.all(tokens.map((token) => reason(auth.authenticate(token))));
  assert.deepEqual(new Set(reasons), new Set(["invalid_signature"]));
  assert.equal(server.requests, 1);
});

Deno.test("an array aud is accepted when it contains the audience and refused otherwise", async () => {
  const key = await es256Key("k1");
  await using server = serveKeys(() => Response.json({ keys: [key.jwk] }));
  const single = jwksAuth(server.url, { audience: "kiln" });
  const either = jwksAuth(server.url, { audience: ["kiln", "admin"] });
  const cases: Array<[unknown, string, string]> = [
    [["billing", "kiln"], "accepted", "accepted"],
    [["kiln"], "accepted", "accepted"],
    [["billing", "admin"], "claim_mismatch", "accepted"],
    [["billing", "reports"], "claim_mismatch", "claim_mismatch"],
    [[], "claim_mismatch", "claim_mismatch"],
    [["KILN"], "claim_mismatch", "claim_mismatch"],
    [[["kiln"]], "claim_mismatch", "claim_mismatch"],
    [{ 0: "kiln" }, "claim_mismatch", "claim_mismatch"],
    [undefined, "claim_mismatch", "claim_mismatch"],
  ];
  for (const [aud, forSingle, forEither] of cases) {
    const token = await signEs256(key, claims(aud === undefined ? {} : { aud }));
    assert.equal(await reason(single.authenticate(token)), forSingle, JSON.stringify(aud));
    assert.equal(await reason(either.authenticate(token)), forEither, JSON.stringify(aud));
  }
});

Deno.test("a cookie token on an upgrade from a foreign Origin is refused with 403 before any token work", async () => {
  const key = await es256Key("k1");
  await using keys = serveKeys(() => Response.json({ keys: [key.jwk] }));
  const inner = jwksAuth(keys.url);
  let authenticated = 0;
  const counting: WebSocketAuth = {
    authenticate(token) {
      authenticated++;
      return inner.authenticate(token);
    },
  };
  await using server = startServer({ realtime: { auth: counting, cookie: "kiln_token" } });
  const cookie = `kiln_token=${await signEs256(key)}`;
  for (
    const origin of ["https://evil.test", "null", "https://app.test.evil.test", "http://app.test"]
  ) {
    const response = await rawUpgrade(server.url, { Origin: origin, Cookie: cookie });
    assert.equal(response.status, 403, origin);
    assert.equal(response.headers.get("upgrade"), null, origin);
  }
  assert.equal(authenticated, 0, "the token was never looked at");
  assert.equal(keys.requests, 0, "the key server was never asked");
  assert.equal(server.hub.size, 0);

  // The same cookie from the allowed origin opens a connection: the 403s were the origin's.
  const allowed = await rawUpgrade(server.url, { Origin: "https://app.test", Cookie: cookie });
  assert.equal(allowed.status, 101);
  assert.equal(authenticated, 1);
});
