/**
 * Parses `redis://[user:password@]host[:port][/db]` once at start-up, so a bad
 * `--redis` flag fails loudly before the gateway accepts any request.
 *
 * @module
 */

/** Where and how to reach the TCP Redis behind the gateway. */
export interface RedisEndpoint {
  hostname: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
}

/**
 * @param url a `redis://` URL
 * @returns the endpoint it names
 * @throws {TypeError} when the URL is not a `redis://` URL
 */
export function parseRedisUrl(url: string): RedisEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Invalid Redis URL: ${url}`);
  }
  if (parsed.protocol !== "redis:") {
    throw new TypeError(`Redis URL must start with redis://, got ${url}`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new TypeError(`Invalid Redis database in ${url}`);
  let hostname = parsed.hostname || "127.0.0.1";
  if (hostname.startsWith("[")) hostname = hostname.slice(1, -1);
  return {
    hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db,
  };
}
