/**
 * The `fetch` that {@linkcode jwtAuth} hands to jose for a JSON Web Key Set.
 *
 * jose reports a refused connection as the raw `TypeError`, a 500 or a garbled body as a
 * generic error, and after any failure fetches again for the very next token. Here every
 * way the key server can fail becomes one `AuthError("key_unavailable")`, the body is
 * capped, and a failure is remembered for a short back-off during which tokens are
 * refused at once: a flood of upgrades during an outage costs one fetch per back-off,
 * not one per upgrade.
 *
 * @module
 */
import { AuthError } from "./errors.ts";

/** What {@linkcode jwksFetch} needs. */
export interface JwksFetchOptions {
  /** The underlying fetch, read at each call so a replaced `globalThis.fetch` is seen. */
  fetch: () => typeof fetch;
  /** The clock for the back-off, in milliseconds since the epoch. */
  now: () => number;
  /** How long after a failed fetch tokens are refused without fetching again. */
  retryAfterMs: number;
  /** The largest key set accepted, in bytes. */
  maxBytes: number;
}

/**
 * Wraps `fetch` for jose's `createRemoteJWKSet` (its `customFetch` option).
 *
 * @param options The underlying fetch, the clock, the back-off and the size cap.
 * @returns A fetch that resolves only with a 200 whose body is a JSON key set.
 * @throws {AuthError} `key_unavailable`, from the returned fetch, for every failure.
 */
export function jwksFetch(options: JwksFetchOptions): typeof fetch {
  let failedAt: number | null = null;
  let lastFailure: AuthError | null = null;
  return async function fetchKeySet(input, init) {
    if (failedAt !== null && options.now() - failedAt < options.retryAfterMs) {
      throw new AuthError("key_unavailable", "The signing keys could not be fetched", {
        cause: lastFailure,
      });
    }
    try {
      const text = await readKeySet(await options.fetch()(input, init), options.maxBytes);
      failedAt = null;
      lastFailure = null;
      return new Response(text, {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    } catch (error) {
      failedAt = options.now();
      lastFailure = error instanceof AuthError
        ? error
        : new AuthError("key_unavailable", "The signing keys could not be fetched", {
          cause: error,
        });
      throw lastFailure;
    }
  };
}

async function readKeySet(response: Response, maxBytes: number): Promise<string> {
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw unavailable(`The key server answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length"));
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw unavailable(`The key set is larger than ${maxBytes} bytes`);
  }
  const text = await readCapped(response, maxBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw unavailable("The key set is not valid JSON", error);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === "object" && key !== null)) {
    throw unavailable("The key set has no list of keys");
  }
  return text;
}

/** Reads the body as text, giving up (and releasing the socket) past `maxBytes`. */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw unavailable(`The key set is larger than ${maxBytes} bytes`);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

function unavailable(detail: string, cause?: unknown): AuthError {
  return new AuthError("key_unavailable", "The signing keys could not be fetched", {
    cause: cause === undefined ? new Error(detail) : new Error(detail, { cause }),
  });
}
