/**
 * The `Location` of a new upload: the fixed `baseUrl` when one is configured,
 * else the request's own URL, with the host and protocol a trusted proxy
 * reports when `respectForwardedHeaders` is on.
 */
import { forwardedOrigin } from "./_forwarded.ts";
import type { Config } from "./_config.ts";

/** The URL of upload `id`, created by `request`. */
export function locationOf(config: Config, request: Request, id: string): string {
  // A configured public URL is never mixed with anything the request says.
  if (config.baseUrl !== null) return `${config.baseUrl}/${id}`;
  const url = new URL(request.url);
  const path = url.pathname.replace(/\/+$/, "");
  if (!config.respectForwardedHeaders) return `${url.origin}${path}/${id}`;
  const forwarded = forwardedOrigin(request.headers);
  const proto = forwarded.proto ?? url.protocol.slice(0, -1);
  const host = forwarded.host ?? url.host;
  // Re-parsed so default ports drop and the result is a canonical origin.
  return `${new URL(`${proto}://${host}`).origin}${path}/${id}`;
}

/**
 * Checks the `baseUrl` option: an absolute http(s) URL without credentials,
 * query or fragment. Returns it without trailing slashes.
 */
export function parseBaseUrl(value: unknown): string | null {
  if (value === undefined) return null;
  const refuse = () =>
    new TypeError(
      `baseUrl must be an absolute http(s) URL without credentials, query or fragment, such as "https://uploads.example.com/files", got ${
        typeof value === "string" ? JSON.stringify(value.slice(0, 100)) : typeof value
      }`,
    );
  if (typeof value !== "string" || /[?#\s]/.test(value)) throw refuse();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refuse();
  }
  if (
    (url.protocol !== "http:" && url.protocol !== "https:") || url.username !== "" ||
    url.password !== "" || url.host === ""
  ) {
    throw refuse();
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}
