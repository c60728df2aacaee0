/**
 * The one place Kiln reads inside a user's `@upstash/redis` `Redis`.
 *
 * Kiln speaks the REST protocol itself, because the SDK's command path decodes
 * replies (a stored `"1.0"` comes back as `1`) and drops the HTTP status that
 * tells an outage (`REDIS_UNAVAILABLE`) from a refused token or a failed
 * command. It therefore needs the endpoint and token the user configured, and no
 * 1.x release of the SDK exposes them publicly: `Redis` keeps its request client
 * in `client` (`private readonly` up to 1.3, `protected` since), whose
 * `baseUrl` and `headers.authorization` are public fields of the SDK's
 * `HttpClient` class in every release from 1.0.0 to 1.39.0; the public
 * `Requester` interface has only `request()`, which throws an `UpstashError`
 * without the status. So this reads those two fields, checks what it finds, and
 * throws a TypeError naming the way out (`new UpstashRedis({ url, token })`)
 * when a client does not have them. `tests/redis/upstash_client_test.ts` runs it
 * against the real SDK's every platform entry, so a release that moves the
 * fields fails there by name.
 *
 * @module
 */

/** Where a Redis REST endpoint is and the token it wants. */
export interface UpstashEndpoint {
  /** The endpoint URL, without a trailing slash. */
  url: string;
  /** The bearer token. */
  token: string;
}

/** The fields read, as the SDK's `HttpClient` declares them. */
interface SdkShape {
  client?: { baseUrl?: unknown; headers?: { authorization?: unknown } | null } | null;
}

const WAY_OUT = "or pass the endpoint yourself: new UpstashRedis({ url, token })";

/**
 * Whether a value is an `@upstash/redis` `Redis` (any platform entry), judged by
 * the request client the SDK builds from a url and token.
 *
 * @param value Anything a user passed as `redis`.
 * @returns `true` when it carries the SDK's request client with a `baseUrl`.
 *
 * @example
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { isUpstashClient } from "./_upstash_endpoint.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isUpstashClient(new Redis({ url: "http://127.0.0.1:8079", token: "t" })));
 * assert.ok(!isUpstashClient({ get() {} }));
 * ```
 */
export function isUpstashClient(value: object): boolean {
  return typeof (value as SdkShape).client?.baseUrl === "string";
}

/**
 * Reads the REST endpoint and token of an `@upstash/redis` `Redis`.
 *
 * @param value An `@upstash/redis` `Redis` built from a url and token.
 * @returns Its endpoint and token.
 * @throws {TypeError} When the value is not such a client, or was built without
 * a url or token (as `Redis.fromEnv()` does when the variables are unset): a
 * missing token must not reach Redis as `Bearer undefined`.
 *
 * @example
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { readUpstashEndpoint } from "./_upstash_endpoint.ts";
 * import assert from "node:assert/strict";
 *
 * const sdk = new Redis({ url: "http://127.0.0.1:8079/", token: "dev-token" });
 * assert.deepEqual(readUpstashEndpoint(sdk), { url: "http://127.0.0.1:8079", token: "dev-token" });
 * ```
 */
export function readUpstashEndpoint(value: object): UpstashEndpoint {
  const http = (value as SdkShape).client;
  if (typeof http?.baseUrl !== "string") {
    throw new TypeError(
      "Expected an @upstash/redis Redis built from a url and token; this one has no " +
        "client.baseUrl (a Redis on a custom requester has none, and an @upstash/redis release " +
        `that moved it is not supported yet), ${WAY_OUT}`,
    );
  }
  const url = http.baseUrl.replace(/\/+$/, "");
  if (url === "") {
    throw new TypeError(
      `The @upstash/redis client has no url (is UPSTASH_REDIS_REST_URL set?); set it, ${WAY_OUT}`,
    );
  }
  const authorization = http.headers?.authorization;
  // The SDK writes `Bearer ${token}` whatever the token is, so a missing one reads "undefined".
  const token = typeof authorization === "string"
    ? /^Bearer (.*)$/s.exec(authorization)?.[1]?.trim()
    : undefined;
  if (token === undefined || token === "" || token === "undefined" || token === "null") {
    throw new TypeError(
      "The @upstash/redis client has no token (is UPSTASH_REDIS_REST_TOKEN set?); set it, " +
        WAY_OUT,
    );
  }
  return { url, token };
}
