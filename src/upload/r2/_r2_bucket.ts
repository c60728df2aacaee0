/**
 * {@linkcode ObjectBucket} over a Workers R2 binding (`env.BUCKET`). R2 has
 * no server-side part copy through the binding, so `copyPart()` reads the
 * range (one part at most) and uploads it. Every body handed to R2 is a
 * `Uint8Array`, so its length is always known.
 */
import { UploadError } from "../errors.ts";
import type * as Port from "../object_bucket.ts";
import type { R2BucketBinding } from "./binding.ts";
import { fixedLengthStream } from "../_stream_bodies.ts";

export class R2Bucket implements Port.ObjectBucket {
  #binding: R2BucketBinding;

  constructor(binding: R2BucketBinding) {
    this.#binding = binding;
  }

  put(key: string, bytes: Uint8Array): Promise<string> {
    return call(`put ${key}`, async () => (await this.#binding.put(key, bytes))!.etag);
  }

  get(key: string, range?: Port.ByteRange): Promise<{ bytes: Uint8Array; etag: string } | null> {
    return call(`get ${key}`, async () => {
      const object = await this.#binding.get(key, range ? { range } : undefined);
      if (!object) return null;
      return { bytes: new Uint8Array(await object.arrayBuffer()), etag: object.etag };
    });
  }

  stream(key: string): Promise<ReadableStream<Uint8Array> | null> {
    return call(`get ${key}`, async () => (await this.#binding.get(key))?.body ?? null);
  }

  size(key: string): Promise<number | null> {
    return call(`head ${key}`, async () => (await this.#binding.head(key))?.size ?? null);
  }

  delete(keys: string[]): Promise<void> {
    return call(`delete ${keys.join(", ")}`, () => this.#binding.delete(keys));
  }

  async *list(prefix: string): AsyncIterable<Port.ListedObject> {
    let cursor: string | undefined;
    do {
      const page = await call(`list ${prefix}`, () => this.#binding.list({ prefix, cursor }));
      for (const object of page.objects) yield { key: object.key, size: object.size };
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }

  createMultipart(key: string): Promise<string> {
    return call(
      `createMultipartUpload ${key}`,
      async () => (await this.#binding.createMultipartUpload(key)).uploadId,
    );
  }

  uploadPart({ key, uploadId, number }: Port.PartTarget, bytes: Uint8Array): Promise<string> {
    return call(`uploadPart ${number} of ${key}`, async () => {
      const upload = this.#binding.resumeMultipartUpload(key, uploadId);
      return (await upload.uploadPart(number, bytes)).etag;
    });
  }

  async copyPart(target: Port.PartTarget, source: string, range: Port.ByteRange): Promise<string> {
    const found = await this.get(source, range);
    if (!found || found.bytes.byteLength !== range.length) {
      throw new UploadError("UPLOAD_NOT_FOUND", `The file at ${source} changed while joining`);
    }
    return await this.uploadPart(target, found.bytes);
  }

  /**
   * Streams a part through a `FixedLengthStream`, which tells R2 its length
   * up front (R2 refuses bodies of unknown length); unset outside workerd.
   */
  readonly uploadPartStream = fixedLengthStream()
    ? (
      { key, uploadId, number }: Port.PartTarget,
      body: ReadableStream<Uint8Array>,
      length: number,
    ): Promise<string> =>
      call(`uploadPart ${number} of ${key}`, async () => {
        const fixed = new (fixedLengthStream()!)(length);
        // A short or aborted body errors the fixed stream, and with it the part.
        body.pipeTo(fixed.writable).catch(() => {});
        const upload = this.#binding.resumeMultipartUpload(key, uploadId);
        return (await upload.uploadPart(number, fixed.readable)).etag;
      })
    : undefined;

  completeMultipart(key: string, uploadId: string, parts: Port.UploadedPart[]): Promise<void> {
    return call(`completeMultipartUpload ${key}`, async () => {
      const upload = this.#binding.resumeMultipartUpload(key, uploadId);
      await upload.complete(parts.map(({ number, etag }) => ({ partNumber: number, etag })));
    });
  }

  abortMultipart(key: string, uploadId: string): Promise<void> {
    return call(`abortMultipartUpload ${key}`, async () => {
      try {
        await this.#binding.resumeMultipartUpload(key, uploadId).abort();
      } catch (error) {
        // Already completed or aborted: nothing is left to free.
        if (!/NoSuchUpload|10024/.test(String(error))) throw error;
      }
    });
  }
}

/** Runs one binding call; what it throws becomes an {@linkcode UploadError}. */
async function call<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof UploadError) throw error;
    // R2 puts its error number in the message: "… (10001)" is its internal error.
    const transient = /\(100(01|43|58)\)/.test(String(error));
    throw new UploadError(
      transient ? "UPLOAD_STORE_UNAVAILABLE" : "UPLOAD_STORE_FAILED",
      `R2 ${what} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
