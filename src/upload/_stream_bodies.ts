/**
 * Which runtime can send a request body as a stream of known length: the one
 * place the object stores ask, so the upload core never looks at the runtime.
 *
 * @module
 */

/** workerd's `FixedLengthStream`: a stream that tells R2 its length up front. */
type FixedLengthStreamClass = new (length: number) => TransformStream<Uint8Array, Uint8Array>;

/** `FixedLengthStream` where the runtime has it (workerd), else `null`. */
export function fixedLengthStream(): FixedLengthStreamClass | null {
  const found = (globalThis as { FixedLengthStream?: FixedLengthStreamClass }).FixedLengthStream;
  return typeof found === "function" ? found : null;
}

/**
 * Whether `fetch` sends a stream body with the Content-Length it is given
 * (Node's undici and Bun do) rather than chunked, which R2's S3 API and other
 * stores refuse. Deno's fetch drops Content-Length on stream bodies and sends
 * them chunked (denoland/deno#24197), and workerd wants a `FixedLengthStream`,
 * so both buffer parts instead.
 */
export function fetchKeepsStreamLength(): boolean {
  const global = globalThis as {
    Deno?: unknown;
    Bun?: unknown;
    process?: { release?: { name?: string } };
    navigator?: { userAgent?: string };
  };
  if (global.Deno !== undefined) return false;
  if (global.navigator?.userAgent?.startsWith("Cloudflare-Workers")) return false;
  return global.Bun !== undefined || global.process?.release?.name === "node";
}
