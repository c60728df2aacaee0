/**
 * Cloudflare's own R2 simulator (miniflare 4, which runs workerd), for the
 * object store tests: one bucket, bound as `env.BUCKET` to an optional worker
 * and served over R2's S3 API at `<origin>/cdn-cgi/local/r2/s3/<bucket>/`
 * with real SigV4 checks, the 5 MiB minimum and the equal-part rule.
 * `persist` keeps the bucket in a folder, so a new simulator (a restart) sees
 * what the last one stored.
 */
import { Miniflare, type MiniflareOptions } from "miniflare";

/** A running simulator; dispose it to stop workerd. */
export interface R2Simulator extends AsyncDisposable {
  readonly miniflare: Miniflare;
  /** The worker's origin (http://127.0.0.1:<port>/). */
  readonly origin: URL;
  /** The bucket's S3 URL, path-style. */
  readonly s3Endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface R2SimulatorOptions {
  /** The worker's code (an ES module); a worker that answers 404 when unset. */
  script?: string;
  /** A folder holding the bucket across simulators. */
  persist?: string;
  /** More miniflare options (bindings, Durable Objects). */
  extra?: Partial<MiniflareOptions>;
}

const BUCKET = "uploads";

export async function startR2Simulator(options: R2SimulatorOptions = {}): Promise<R2Simulator> {
  const accessKeyId = "kiln-test-key";
  const secretAccessKey = crypto.randomUUID();
  const miniflare = new Miniflare({
    modules: true,
    script: options.script ??
      "export default { fetch() { return new Response('no worker', { status: 404 }); } };",
    compatibilityDate: "2025-07-18",
    r2Buckets: { BUCKET: { id: BUCKET, s3Credentials: { accessKeyId, secretAccessKey } } },
    r2Persist: options.persist ?? false,
    host: "127.0.0.1",
    port: 0,
    ...options.extra,
  } as MiniflareOptions);
  const origin = await miniflare.ready;
  return {
    miniflare,
    origin,
    s3Endpoint: new URL(`/cdn-cgi/local/r2/s3/${BUCKET}/`, origin).href,
    accessKeyId,
    secretAccessKey,
    [Symbol.asyncDispose]: () => miniflare.dispose(),
  };
}
