/**
 * {@linkcode ObjectBucket} over the S3 API: requests signed by aws4fetch
 * (SigV4 on fetch, every runtime), bodies always of known length (R2's S3
 * API refuses chunked and `aws-chunked` bodies), no `Expect: 100-continue`
 * (workerd never answers it), and no ListParts (missing on R2 in miniflare):
 * the part list lives in the info object.
 *
 * The few XML answers S3 gives (an upload id, a copied part's ETag, a page of
 * keys, an error's code) are read with small patterns over flat elements
 * rather than an XML library: no parser the design allows runs on all four
 * runtimes without a DOM, and these elements never nest.
 */
import type { AwsClient } from "aws4fetch";
import { UploadError } from "../errors.ts";
import type {
  ByteRange,
  ListedObject,
  ObjectBucket,
  PartTarget,
  UploadedPart,
} from "../object_bucket.ts";
import { fetchKeepsStreamLength } from "../_stream_bodies.ts";

/** How long one request to the store may take by default: five minutes. */
export const DEFAULT_TIMEOUT = 300_000;

export class S3Bucket implements ObjectBucket {
  #client: AwsClient;
  #endpoint: string;
  #timeout: number;

  /**
   * `endpoint` is the bucket's URL, path-style or virtual-host, ending in `/`;
   * `timeout` the milliseconds one request may take, its answer's body read
   * included, before the store counts as unreachable.
   */
  constructor(client: AwsClient, endpoint: string, timeout = DEFAULT_TIMEOUT) {
    this.#client = client;
    this.#endpoint = endpoint;
    this.#timeout = timeout;
  }

  async put(key: string, bytes: Uint8Array): Promise<string> {
    const response = await this.#send("PUT", key, {}, { body: bytes });
    return etagOf(response);
  }

  async get(key: string, range?: ByteRange): Promise<{ bytes: Uint8Array; etag: string } | null> {
    const headers: Record<string, string> = range
      ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` }
      : {};
    const response = await this.#send("GET", key, {}, { headers }, true);
    if (response.status === 404) return null;
    const body = await read(response.arrayBuffer(), `GET ${key}`);
    return { bytes: new Uint8Array(body), etag: etagOf(response) };
  }

  async stream(key: string): Promise<ReadableStream<Uint8Array> | null> {
    // The timeout holds until the answer starts: the body then streams as fast as its
    // reader takes it, which may be longer than any timeout.
    const waiting = new AbortController();
    const timer = setTimeout(
      () => waiting.abort(new DOMException("The store did not answer in time", "TimeoutError")),
      this.#timeout,
    );
    try {
      const response = await this.#send("GET", key, {}, {}, true, waiting.signal);
      return response.status === 404 ? null : response.body ?? new Blob([]).stream();
    } finally {
      clearTimeout(timer);
    }
  }

  async size(key: string): Promise<number | null> {
    const response = await this.#send("HEAD", key, {}, {}, true);
    if (response.status === 404) return null;
    return Number(response.headers.get("Content-Length") ?? "0");
  }

  async delete(keys: string[]): Promise<void> {
    // One DELETE each: DeleteObjects wants a Content-MD5 that Web Crypto cannot make.
    await Promise.all(keys.map((key) => this.#send("DELETE", key, {}, {}, true)));
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    let token: string | null = null;
    do {
      const query: Record<string, string> = { "list-type": "2", prefix };
      if (token) query["continuation-token"] = token;
      const text = await read((await this.#send("GET", "", query, {})).text(), "GET (bucket)");
      for (const contents of elements(text, "Contents")) {
        yield { key: first(contents, "Key") ?? "", size: Number(first(contents, "Size") ?? "0") };
      }
      token = first(text, "IsTruncated") === "true" ? first(text, "NextContinuationToken") : null;
    } while (token);
  }

  async createMultipart(key: string): Promise<string> {
    const response = await this.#send("POST", key, { uploads: "" }, {});
    const text = await read(response.text(), `POST ${key}`);
    const uploadId = first(text, "UploadId");
    if (!uploadId) throw failed(`CreateMultipartUpload for ${key} answered no UploadId`);
    return uploadId;
  }

  async uploadPart({ key, uploadId, number }: PartTarget, bytes: Uint8Array): Promise<string> {
    const query = { partNumber: String(number), uploadId };
    return etagOf(await this.#send("PUT", key, query, { body: bytes }));
  }

  /**
   * Streams a part with its Content-Length, where fetch keeps it (see
   * `fetchKeepsStreamLength`); unset elsewhere, so parts are buffered there.
   * The payload is not hashed (it is not here yet): signed as UNSIGNED-PAYLOAD.
   */
  readonly uploadPartStream = fetchKeepsStreamLength()
    ? async (
      { key, uploadId, number }: PartTarget,
      body: ReadableStream<Uint8Array>,
      length: number,
    ): Promise<string> => {
      const query = { partNumber: String(number), uploadId };
      const headers = {
        "Content-Length": String(length),
        "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
      };
      return etagOf(await this.#send("PUT", key, query, { body, headers }));
    }
    : undefined;

  async copyPart(
    { key, uploadId, number }: PartTarget,
    source: string,
    range: ByteRange,
  ): Promise<string> {
    const bucketPath = new URL(this.#endpoint).pathname.replace(/^\/|\/$/g, "");
    const headers = {
      // Path-style endpoints name the bucket in the path; the copy source is always /bucket/key.
      "x-amz-copy-source": `/${bucketPath.split("/").pop() || this.#hostBucket()}/${source}`,
      "x-amz-copy-source-range": `bytes=${range.offset}-${range.offset + range.length - 1}`,
    };
    const query = { partNumber: String(number), uploadId };
    const text = await read(
      (await this.#send("PUT", key, query, { headers })).text(),
      `PUT ${key}`,
    );
    const etag = first(text, "ETag");
    if (!etag) throw failed(`UploadPartCopy for ${key} answered no ETag`);
    return etag;
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<void> {
    const body = "<CompleteMultipartUpload>" +
      parts.map((part) =>
        `<Part><PartNumber>${part.number}</PartNumber><ETag>${escape(part.etag)}</ETag></Part>`
      ).join("") + "</CompleteMultipartUpload>";
    const response = await this.#send("POST", key, { uploadId }, {
      body: new TextEncoder().encode(body),
    });
    // S3 may answer 200 and put the error in the body.
    const text = await read(response.text(), `POST ${key}`);
    if (text.includes("<Error>")) throw refusal(200, text, `CompleteMultipartUpload ${key}`);
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.#send("DELETE", key, { uploadId }, {}, true);
  }

  /** The bucket of a virtual-host endpoint (`<bucket>.s3.<region>.amazonaws.com`). */
  #hostBucket(): string {
    return new URL(this.#endpoint).hostname.split(".")[0];
  }

  /**
   * Sends one signed request; any answer but 2xx (and 404 when `missingOk`)
   * becomes an {@linkcode UploadError}.
   */
  async #send(
    method: string,
    key: string,
    query: Record<string, string>,
    init: { body?: Uint8Array | ReadableStream<Uint8Array>; headers?: Record<string, string> },
    missingOk = false,
    signal: AbortSignal = AbortSignal.timeout(this.#timeout),
  ): Promise<Response> {
    const url = new URL(key.split("/").map(encodeURIComponent).join("/"), this.#endpoint);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const what = `${method} ${key || "(bucket)"}`;
    let response: Response;
    try {
      response = await this.#client.fetch(url, {
        method,
        headers: init.headers,
        body: init.body as BodyInit | undefined,
        signal,
        // Node wants this for a stream body; others ignore it.
        ...(init.body instanceof ReadableStream ? { duplex: "half" } : {}),
      });
    } catch (error) {
      // Refused, reset, a name that does not resolve, or no answer within the timeout.
      throw new UploadError("UPLOAD_STORE_UNAVAILABLE", `${what}: the store is unreachable`, {
        cause: error,
      });
    }
    if (response.ok || (missingOk && response.status === 404)) return response;
    throw refusal(response.status, await response.text().catch(() => ""), what);
  }
}

/**
 * An answer's body, whose read fails like the request when the connection
 * breaks after the status line (reset, closed): the store is unreachable, not
 * refusing, so the client retries after Retry-After.
 */
async function read<T>(body: Promise<T>, what: string): Promise<T> {
  try {
    return await body;
  } catch (error) {
    throw new UploadError("UPLOAD_STORE_UNAVAILABLE", `${what}: the store's answer broke off`, {
      cause: error,
    });
  }
}

function etagOf(response: Response): string {
  const etag = response.headers.get("ETag");
  if (!etag) throw failed(`The store answered without an ETag`);
  return etag;
}

/** An error answer: 5xx and 429 may pass (UNAVAILABLE), anything else will not (FAILED). */
function refusal(status: number, body: string, what: string): UploadError {
  const code = first(body, "Code") ?? `HTTP ${status}`;
  const message = first(body, "Message") ?? "";
  const transient = status >= 500 || status === 429 || code === "SlowDown";
  return new UploadError(
    transient ? "UPLOAD_STORE_UNAVAILABLE" : "UPLOAD_STORE_FAILED",
    `${what}: the store answered ${status} ${code}${message ? `: ${message}` : ""}`,
  );
}

function failed(message: string): UploadError {
  return new UploadError("UPLOAD_STORE_FAILED", message);
}

/** The text of the first `<name>` element in `xml`, unescaped. */
function first(xml: string, name: string): string | null {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match ? unescape(match[1]) : null;
}

/** The inner text of every `<name>` element. */
function elements(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g"))].map((m) => m[1]);
}

const ENTITIES: Record<string, string> = {
  "&quot;": '"',
  "&apos;": "'",
  "&lt;": "<",
  "&gt;": ">",
  "&amp;": "&",
};

function unescape(text: string): string {
  return text.replace(/&(quot|apos|lt|gt|amp);/g, (entity) => ENTITIES[entity]);
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => Object.keys(ENTITIES).find((e) => ENTITIES[e] === c)!);
}
