import assert from "node:assert/strict";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { AuthError } from "../../src/realtime/errors.ts";
import { systemClock } from "../../src/clock.ts";
import { jwtAuth } from "../../src/realtime/jwt_auth.ts";

const encoder = new TextEncoder();
const SECRET = "jwt-auth-test-secret-of-32-bytes-plus";

function claims(extra: Record<string, unknown> = {}) {
  return { sub: "u1", exp: Math.floor(Date.now() / 1000) + 600, ...extra };
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

Deno.test("jwtAuth() verifies RS256, ES256 and EdDSA tokens with their public keys", async () => {
  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const token = await new SignJWT(claims()).setProtectedHeader({ alg }).sign(privateKey);
    for (const key of [publicKey, await exportSPKI(publicKey), await exportJWK(publicKey)]) {
      const auth = jwtAuth({ publicKey: key, algorithms: [alg] });
      assert.equal((await auth.authenticate(token)).user.id, "u1", alg);
    }
  }
});

Deno.test("jwtAuth() refuses an HS256 token signed with the RSA public key (algorithm confusion)", async () => {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const pem = await exportSPKI(publicKey);
  const auth = jwtAuth({ publicKey: pem, algorithms: ["RS256"] });
  const forged = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(
    encoder.encode(pem),
  );
  assert.equal(await reason(auth.authenticate(forged)), "unsupported_algorithm");
  const genuine = await new SignJWT(claims()).setProtectedHeader({ alg: "RS256" }).sign(privateKey);
  assert.equal((await auth.authenticate(genuine)).user.id, "u1");
});

Deno.test("jwtAuth() names why a token failed", async () => {
  const now = Math.floor(Date.now() / 1000);
  const auth = jwtAuth({ secret: SECRET, algorithms: ["HS256"], issuer: "iss", audience: "aud" });
  const sign = (payload: Record<string, unknown>, secret = SECRET) =>
    new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).sign(encoder.encode(secret));
  const ok = { iss: "iss", aud: "aud" };
  assert.equal(await reason(auth.authenticate(await sign(claims(ok)))), "accepted");
  assert.equal(
    await reason(auth.authenticate(await sign(claims({ ...ok, exp: now - 5 })))),
    "expired",
  );
  assert.equal(
    await reason(auth.authenticate(await sign(claims({ ...ok, nbf: now + 60 })))),
    "not_yet_valid",
  );
  assert.equal(
    await reason(auth.authenticate(await sign(claims({ iss: "x", aud: "aud" })))),
    "claim_mismatch",
  );
  assert.equal(
    await reason(auth.authenticate(await sign(claims({ iss: "iss", aud: "x" })))),
    "claim_mismatch",
  );
  assert.equal(
    await reason(auth.authenticate(await sign(claims(ok), "x".repeat(40)))),
    "invalid_signature",
  );
  const noExp = await sign({ sub: "u1", ...ok });
  assert.equal(await reason(auth.authenticate(noExp)), "claim_mismatch", "exp is required");
  assert.equal(
    await reason(auth.authenticate(await sign({ ...ok, exp: now + 60 }))),
    "claim_mismatch",
  );
  assert.equal(await reason(auth.authenticate("")), "missing");
  assert.equal(await reason(auth.authenticate("a.b")), "malformed");
});

Deno.test("jwtAuth() honours clockTolerance and an injected clock", async () => {
  const now = Date.UTC(2031, 5, 1);
  const token = await new SignJWT({ sub: "u1", exp: now / 1000 + 10 })
    .setProtectedHeader({ alg: "HS256" }).sign(encoder.encode(SECRET));
  const strict = jwtAuth({
    secret: SECRET,
    algorithms: ["HS256"],
    clock: { ...systemClock, now: () => now + 15_000 },
  });
  assert.equal(await reason(strict.authenticate(token)), "expired");
  const lenient = jwtAuth({
    secret: SECRET,
    algorithms: ["HS256"],
    clockTolerance: 10,
    clock: { ...systemClock, now: () => now + 15_000 },
  });
  assert.equal((await lenient.authenticate(token)).expiresAt, now + 10_000);
});

Deno.test("jwtAuth() refuses unsafe configurations when created", () => {
  assert.throws(() => jwtAuth({ algorithms: ["HS256"] }), TypeError);
  assert.throws(
    () => jwtAuth({ secret: SECRET, jwksUrl: "http://x", algorithms: ["HS256"] }),
    TypeError,
  );
  assert.throws(() => jwtAuth({ secret: SECRET, algorithms: [] }), TypeError);
  assert.throws(() => jwtAuth({ secret: SECRET, algorithms: ["RS256"] }), TypeError);
  assert.throws(() => jwtAuth({ jwksUrl: "http://x", algorithms: ["HS256"] }), TypeError);
  assert.throws(() => jwtAuth({ secret: SECRET, algorithms: ["none" as "HS256"] }), TypeError);
  assert.throws(() => jwtAuth({ secret: "short", algorithms: ["HS256"] }), RangeError);
  assert.throws(() => jwtAuth({ secret: SECRET, algorithms: ["HS512"] }), RangeError);
});

Deno.test("jwtAuth() fetches a JWKS, caches it, and picks up a rotated key by kid", async () => {
  const first = await generateKeyPair("ES256", { extractable: true });
  const second = await generateKeyPair("ES256", { extractable: true });
  const keys = [{ ...(await exportJWK(first.publicKey)), kid: "k1", alg: "ES256" }];
  let fetches = 0;
  await using server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
    fetches++;
    return Response.json({ keys });
  });
  const auth = jwtAuth({
    jwksUrl: `http://127.0.0.1:${server.addr.port}/jwks.json`,
    algorithms: ["ES256"],
    jwksCooldown: 0,
  });
  const signWith = (key: CryptoKey, kid: string) =>
    new SignJWT(claims()).setProtectedHeader({ alg: "ES256", kid }).sign(key);
  assert.equal((await auth.authenticate(await signWith(first.privateKey, "k1"))).user.id, "u1");
  await auth.authenticate(await signWith(first.privateKey, "k1"));
  assert.equal(fetches, 1, "the key set is cached");

  assert.equal(
    await reason(auth.authenticate(await signWith(second.privateKey, "k2"))),
    "invalid_signature",
  );
  keys.push({ ...(await exportJWK(second.publicKey)), kid: "k2", alg: "ES256" });
  assert.equal((await auth.authenticate(await signWith(second.privateKey, "k2"))).user.id, "u1");
  assert.equal(
    await reason(auth.authenticate(await signWith(second.privateKey, "k1"))),
    "invalid_signature",
    "a key cannot sign under another kid",
  );
});

Deno.test("jwtAuth() fetches the JWKS with the fetch it was given", async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  const asked: string[] = [];
  const auth = jwtAuth({
    jwksUrl: "https://id.invalid/jwks.json",
    algorithms: ["ES256"],
    fetch: (input) => {
      asked.push(String(input));
      return Promise.resolve(Response.json({ keys: [jwk] }));
    },
  });
  const token = await new SignJWT(claims()).setProtectedHeader({ alg: "ES256", kid: "k1" })
    .sign(privateKey);
  assert.equal((await auth.authenticate(token)).user.id, "u1");
  assert.deepEqual(asked, ["https://id.invalid/jwks.json"]);
});
