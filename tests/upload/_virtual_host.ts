/**
 * A virtual-host S3 endpoint in front of the R2 simulator, for the test that
 * `S3Store` addresses and signs virtual-host URLs (`http://<bucket>.<host>/<key>`)
 * correctly. The simulator only speaks path-style, and `uploads.localhost`
 * does not resolve here, so the store runs in a subprocess whose
 * `HTTP_PROXY` points at this server: its fetch sends each request exactly as
 * it would go to a virtual-host endpoint (`Host: uploads.localhost:<port>`,
 * path `/<key>`), and this server checks the SigV4 signature against that
 * host and path, then signs the request again for the simulator's path-style
 * URL and forwards it. Anything addressed or signed otherwise is refused 403
 * and recorded.
 */
import { AwsClient, AwsV4Signer } from "aws4fetch";
import type { R2Simulator } from "./_r2_simulator.ts";

/** One request the endpoint saw. */
export interface SeenRequest {
  method: string;
  host: string;
  path: string;
  search: string;
  /** `x-amz-copy-source`, which UploadPartCopy sends. */
  copySource: string | null;
  /** Why it was refused, or `null` when it was signed for this host and path and forwarded. */
  refused: string | null;
}

/** The running endpoint; dispose to stop it. */
export interface VirtualHostEndpoint extends AsyncDisposable {
  /** The bucket's virtual-host URL, `http://uploads.localhost:<port>/`. */
  readonly endpoint: string;
  /** The proxy URL to give the store's process as `HTTP_PROXY`. */
  readonly proxy: string;
  readonly seen: SeenRequest[];
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/**
 * Starts the endpoint for the simulator's bucket (named `uploads`), checking
 * signatures made with the simulator's credentials for `region`.
 */
export function startVirtualHost(
  bucket: R2Simulator,
  region: string,
): Promise<VirtualHostEndpoint> {
  const upstream = new AwsClient({
    accessKeyId: bucket.accessKeyId,
    secretAccessKey: bucket.secretAccessKey,
    service: "s3",
    region: "auto",
    retries: 0,
  });
  const seen: SeenRequest[] = [];
  let host = "";

  async function refusal(request: Request, url: URL): Promise<string | null> {
    if (request.headers.get("host") !== host || url.host !== host) {
      return `addressed to ${request.headers.get("host")}, not ${host}`;
    }
    if (url.pathname.startsWith("/uploads/")) return "path-style path on a virtual-host endpoint";
    const auth = AUTHORIZATION.exec(request.headers.get("authorization") ?? "");
    if (!auth) return "no SigV4 Authorization header";
    const [, keyId, date, scopeRegion, signedHeaders, signature] = auth;
    if (keyId !== bucket.accessKeyId) return "another access key";
    if (scopeRegion !== region) return `signed for region ${scopeRegion}`;
    const names = signedHeaders.split(";");
    if (!names.includes("host")) return "host is not signed";
    const datetime = request.headers.get("x-amz-date") ?? "";
    if (!datetime.startsWith(date)) return "x-amz-date outside the credential's day";
    const headers = new Headers();
    for (const name of names) {
      if (name !== "host") headers.set(name, request.headers.get(name) ?? "");
    }
    // The signature this host, path, query and these headers call for, made with the secret.
    const expected = await new AwsV4Signer({
      method: request.method,
      url: url.href,
      headers,
      accessKeyId: bucket.accessKeyId,
      secretAccessKey: bucket.secretAccessKey,
      service: "s3",
      region,
      datetime,
      allHeaders: true,
    }).authHeader();
    return expected.endsWith(`Signature=${signature}`) ? null : "signature does not match";
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const refused = await refusal(request, url);
    seen.push({
      method: request.method,
      host: request.headers.get("host") ?? "",
      path: url.pathname,
      search: url.search,
      copySource: request.headers.get("x-amz-copy-source"),
      refused,
    });
    if (refused) {
      await request.body?.cancel();
      return new Response(
        `<Error><Code>SignatureDoesNotMatch</Code><Message>${refused}</Message></Error>`,
        { status: 403 },
      );
    }
    const headers: Record<string, string> = {};
    for (const name of ["range", "x-amz-copy-source", "x-amz-copy-source-range"]) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
    const forwarded = await upstream.fetch(
      new URL(url.pathname.slice(1) + url.search, bucket.s3Endpoint),
      { method: request.method, headers, body },
    );
    return new Response(forwarded.body, {
      status: forwarded.status,
      headers: forwarded.headers,
    });
  }

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        host = `uploads.localhost:${port}`;
        resolve({
          endpoint: `http://${host}/`,
          proxy: `http://127.0.0.1:${port}`,
          seen,
          [Symbol.asyncDispose]: () => server.shutdown(),
        });
      },
    }, handle);
  });
}
