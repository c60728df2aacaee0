/**
 * JWT authentication for realtime connections, on `jose` (Web Crypto only).
 *
 * @module
 */
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  importJWK,
  importSPKI,
  type JWK,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import { type Clock, systemClock } from "../clock.ts";
import type { AuthSession, WebSocketAuth } from "./auth.ts";
import { AuthError } from "./errors.ts";
import { jwksFetch } from "./_jwks_fetch.ts";

/** The algorithms {@linkcode jwtAuth} accepts; `none` is never among them. */
export type JwtAlgorithm =
  | "HS256"
  | "HS384"
  | "HS512"
  | "RS256"
  | "RS384"
  | "RS512"
  | "PS256"
  | "PS384"
  | "PS512"
  | "ES256"
  | "ES384"
  | "ES512"
  | "EdDSA"
  | "Ed25519";

/** Options for {@linkcode jwtAuth}. Give exactly one of `secret`, `publicKey` and `jwksUrl`. */
export interface JwtAuthOptions {
  /** The shared secret for HS256/384/512, at least as long as the hash (32, 48 or 64 bytes). */
  secret?: string | Uint8Array;
  /** The public key for RS/PS/ES/EdDSA: a `CryptoKey`, an SPKI PEM string, or a JWK. */
  publicKey?: CryptoKey | string | JWK;
  /** A JSON Web Key Set URL; keys are cached, and refetched when a token names an unknown `kid`. */
  jwksUrl?: string | URL;
  /**
   * The only algorithms accepted. HMAC algorithms need `secret`; the others need
   * `publicKey` or `jwksUrl`, so one key can never be used with the other family.
   */
  algorithms: readonly JwtAlgorithm[];
  /** The required `iss` claim. */
  issuer?: string | readonly string[];
  /** The required `aud` claim (one of). */
  audience?: string | readonly string[];
  /**
   * Leeway for `exp` and `nbf`, in seconds.
   * @default 0
   */
  clockTolerance?: number;
  /**
   * Claims copied into `user.claims` (and so into `welcome` and `authorize`).
   * @default []
   */
  expose?: readonly string[];
  /**
   * Refuse tokens without `exp`. A token without one would keep its connection open forever.
   * @default true
   */
  requireExpiry?: boolean;
  /**
   * The clock for `exp`/`nbf` checks and the JWKS back-off.
   * @default systemClock
   */
  clock?: Clock;
  /** The `fetch` used for the JWKS. @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * How long a fetched JWKS is trusted before it is fetched again, in milliseconds.
   * @default 600_000
   */
  jwksCacheMaxAge?: number;
  /**
   * The least time between two JWKS fetches for unknown `kid`s, in milliseconds
   * (stops a stream of forged `kid`s from hammering the key server).
   * @default 30_000
   */
  jwksCooldown?: number;
  /**
   * How long one JWKS fetch may take, in milliseconds, before the token is refused
   * with `key_unavailable` (the upgrade then gets 503). After any failed fetch,
   * tokens are refused at once for `min(1_000, jwksCooldown)` without asking the
   * key server again.
   * @default 5_000
   */
  jwksTimeout?: number;
}

const HMAC_MIN_BYTES: Partial<Record<JwtAlgorithm, number>> = {
  HS256: 32,
  HS384: 48,
  HS512: 64,
};
/** After a failed JWKS fetch, the least time before the next one (capped by the cooldown). */
const JWKS_RETRY_MS = 1_000;
/** The largest JWKS accepted; real ones are a few kilobytes. */
const JWKS_MAX_BYTES = 1_048_576;
const KNOWN_ALGORITHMS = new Set<string>([
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
]);

/**
 * Creates a {@linkcode WebSocketAuth} that verifies JSON Web Tokens: the
 * signature with the configured key and algorithms only, then `exp`, `nbf`,
 * `iss` and `aud`. The user is the token's `sub` plus the claims listed in
 * `expose`.
 *
 * @param options The key, the accepted algorithms and the claim checks.
 * @returns The authentication scheme, for {@linkcode realtime}'s `auth` option.
 * @throws {TypeError} When not exactly one key source is given, or an algorithm does not fit it.
 * @throws {RangeError} When an HMAC secret is shorter than its hash, or `jwksTimeout` is not a positive integer.
 *
 * @example Verifying an HS256 token
 * ```ts
 * import { jwtAuth } from "@kiln/core/realtime";
 * import { SignJWT } from "jose";
 * import assert from "node:assert/strict";
 *
 * const secret = "an-hs256-secret-of-at-least-32-bytes!";
 * const auth = jwtAuth({ secret, algorithms: ["HS256"], issuer: "app", expose: ["name"] });
 * const token = await new SignJWT({ name: "Ada" })
 *   .setProtectedHeader({ alg: "HS256" })
 *   .setSubject("user-1").setIssuer("app").setExpirationTime("1h")
 *   .sign(new TextEncoder().encode(secret));
 * const { user } = await auth.authenticate(token);
 * assert.deepEqual(user, { id: "user-1", claims: { name: "Ada" } });
 * ```
 */
export function jwtAuth(options: JwtAuthOptions): WebSocketAuth {
  const sources = [options.secret, options.publicKey, options.jwksUrl].filter((source) =>
    source !== undefined
  );
  if (sources.length !== 1) {
    throw new TypeError("jwtAuth needs exactly one of secret, publicKey and jwksUrl");
  }
  if (!Array.isArray(options.algorithms) || options.algorithms.length === 0) {
    throw new TypeError("jwtAuth needs a non-empty list of algorithms");
  }
  const algorithms = [...options.algorithms];
  for (const algorithm of algorithms) {
    if (!KNOWN_ALGORITHMS.has(algorithm)) {
      throw new TypeError(`Unsupported JWT algorithm ${JSON.stringify(algorithm)}`);
    }
    const hmac = algorithm.startsWith("HS");
    // One key type per family is what makes algorithm confusion impossible.
    if (hmac !== (options.secret !== undefined)) {
      throw new TypeError(
        hmac
          ? `Algorithm ${algorithm} needs a secret`
          : `Algorithm ${algorithm} needs a publicKey or jwksUrl, not a secret`,
      );
    }
  }
  const clockTolerance = options.clockTolerance ?? 0;
  if (!(clockTolerance >= 0)) {
    throw new RangeError(`clockTolerance must be a non-negative number of seconds`);
  }
  const key = resolveKey(options, algorithms);
  const expose = [...(options.expose ?? [])];
  const requiredClaims = options.requireExpiry === false ? ["sub"] : ["sub", "exp"];
  const clock = options.clock ?? systemClock;

  return {
    async authenticate(token: string): Promise<AuthSession> {
      if (typeof token !== "string" || token.length === 0) {
        throw new AuthError("missing", "No token was given");
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key as JWTVerifyGetKey, {
          algorithms,
          issuer: options.issuer as string | string[] | undefined,
          audience: options.audience as string | string[] | undefined,
          clockTolerance,
          currentDate: new Date(clock.now()),
          requiredClaims,
        }));
      } catch (error) {
        throw toAuthError(error);
      }
      if (typeof payload.sub !== "string" || payload.sub.length === 0) {
        throw new AuthError("claim_mismatch", "The token has no subject");
      }
      const claims: Record<string, unknown> = {};
      for (const name of expose) {
        if (name in payload) claims[name] = payload[name];
      }
      return {
        user: { id: payload.sub, claims },
        expiresAt: typeof payload.exp === "number" ? payload.exp * 1000 : null,
      };
    },
  };
}

type KeyInput = Uint8Array | CryptoKey | JWTVerifyGetKey;

function resolveKey(options: JwtAuthOptions, algorithms: JwtAlgorithm[]): KeyInput {
  if (options.secret !== undefined) {
    const secret = typeof options.secret === "string"
      ? new TextEncoder().encode(options.secret)
      : options.secret;
    for (const algorithm of algorithms) {
      const min = HMAC_MIN_BYTES[algorithm] ?? 0;
      if (secret.byteLength < min) {
        throw new RangeError(
          `An ${algorithm} secret must be at least ${min} bytes, got ${secret.byteLength}`,
        );
      }
    }
    return secret;
  }
  if (options.jwksUrl !== undefined) {
    const timeoutMs = options.jwksTimeout ?? 5_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(`jwksTimeout must be a positive integer, got ${timeoutMs}`);
    }
    const cooldownMs = options.jwksCooldown ?? 30_000;
    const jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
      cacheMaxAge: options.jwksCacheMaxAge ?? 600_000,
      cooldownDuration: cooldownMs,
      // jose's default is also 5 s; passed explicitly so the bound is ours and documented.
      timeoutDuration: timeoutMs,
      [customFetch]: jwksFetch({
        fetch: () => options.fetch ?? globalThis.fetch,
        now: () => (options.clock ?? systemClock).now(),
        retryAfterMs: Math.min(JWKS_RETRY_MS, cooldownMs),
        maxBytes: JWKS_MAX_BYTES,
      }),
    });
    return jwks as JWTVerifyGetKey;
  }
  const publicKey = options.publicKey!;
  if (typeof publicKey === "object" && !("kty" in publicKey)) return publicKey as CryptoKey;
  // A PEM or JWK is imported once per algorithm, lazily, as the token header names it.
  const imported = new Map<string, Promise<CryptoKey | Uint8Array>>();
  return ((header: { alg?: string }) => {
    const alg = header.alg ?? "";
    let key = imported.get(alg);
    if (!key) {
      key = typeof publicKey === "string"
        ? importSPKI(publicKey, alg)
        : importJWK(publicKey as JWK, alg);
      imported.set(alg, key);
    }
    return key;
  }) as JWTVerifyGetKey;
}

function toAuthError(error: unknown): AuthError {
  // Key server failures arrive already named (see _jwks_fetch.ts).
  if (error instanceof AuthError) return error;
  if (error instanceof errors.JWTExpired) {
    return new AuthError("expired", "The token has expired", { cause: error });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") {
      return new AuthError("not_yet_valid", "The token is not valid yet", { cause: error });
    }
    return new AuthError("claim_mismatch", "The token's claims are not acceptable", {
      cause: error,
    });
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new AuthError("unsupported_algorithm", "The token's algorithm is not accepted", {
      cause: error,
    });
  }
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey
  ) {
    return new AuthError("invalid_signature", "The token's signature is not valid", {
      cause: error,
    });
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return new AuthError("key_unavailable", "The signing keys could not be fetched", {
      cause: error,
    });
  }
  return new AuthError("malformed", "The token is malformed", { cause: error });
}
