/**
 * One unfinished upload in object storage, open for appending. Bytes gather
 * in a buffer of `partSize`; a full buffer becomes the next part (R2 wants
 * every part but the last the same size, S3 at least 5 MiB) and is sent while
 * the next bytes gather in a second buffer, so a request holds at most two
 * parts in memory, one of them in flight. What is left when the request ends
 * is the tail, kept as `<key>.part` and read back by the next request.
 *
 * When the request's length says a whole part more is coming and nothing is
 * buffered, the part is streamed instead, through the bucket's
 * `uploadPartStream` (where the runtime can send a stream with its length),
 * so no part's bytes are gathered at all. Its bytes cannot be read back: a
 * request that ends inside a streamed part records nothing, and the upload
 * stays where the last good request left it.
 *
 * Nothing is recorded until `release()`: parts sent by this handle are listed
 * in `<key>.info` only then, so `rollback()` to where the handle started just
 * forgets them (a later part with the same number replaces them) and reads
 * the old tail back.
 */
import { UploadError } from "./errors.ts";
import { type InfoObjects, type MultipartProgress, tailKey } from "./_object_info.ts";
import type { ObjectBucket, PartTarget, UploadedPart } from "./object_bucket.ts";
import type { ChunkedUpload, StoredFile } from "./store.ts";
import type { BufferPool } from "./_body.ts";

/** What an object upload needs from its store. */
export interface ObjectUploadContext {
  readonly bucket: ObjectBucket;
  readonly info: InfoObjects;
  readonly partSize: number;
  /**
   * Part buffers kept between requests: a new one per request would leave a
   * part's worth of garbage behind each PATCH until the collector runs.
   */
  readonly buffers: BufferPool;
}

/** An upload's bytes: the progress recorded so far, and the tail's bytes read back. */
export interface OpenedUpload {
  readonly progress: MultipartProgress;
  readonly tail: Uint8Array;
  /** The info object already says exactly this, so a handle that changes nothing writes nothing. */
  readonly recorded: boolean;
}

export class ObjectChunkedUpload implements ChunkedUpload {
  readonly path: string;
  #context: ObjectUploadContext;
  #key: string;
  /** Where the handle was opened, which `rollback()` can return to. */
  #opened: MultipartProgress;
  #uploadId: string | null;
  /** The parts sent and answered, in order. */
  #parts: UploadedPart[];
  /** The part being sent (at most one), and the buffer it is sent from (none when streamed). */
  #flight: { buffer: Uint8Array<ArrayBuffer> | null; done: Promise<UploadedPart> } | null = null;
  /** The part being streamed, while its bytes are still arriving. */
  #stream: StreamedPart | null = null;
  /** Bytes the request body is known to hold after the ones appended so far. */
  #expected: number | null = null;
  /** The buffer bytes gather in; `null` until the next byte after a part left in it. */
  #buffer: Uint8Array<ArrayBuffer> | null;
  /** A buffer whose part was answered, ready to fill again. */
  #spare: Uint8Array<ArrayBuffer> | null = null;
  /** Every buffer taken from the pool, given back when the handle closes. */
  #lent: ArrayBuffer[] = [];
  #filled: number;
  /** The tail in `#buffer` is still the one stored as `<key>.part`. */
  #tailStored = true;
  #recorded: boolean;
  #closed = false;
  /**
   * A part failed to send: what the handle holds no longer lines up with the
   * parts, so it records nothing and the upload stays as it was opened.
   */
  #broken = false;

  constructor(context: ObjectUploadContext, path: string, key: string, opened: OpenedUpload) {
    this.#context = context;
    this.path = path;
    this.#key = key;
    this.#opened = opened.progress;
    this.#uploadId = opened.progress.uploadId;
    this.#parts = [...opened.progress.parts];
    this.#buffer = this.#lend();
    this.#buffer.set(opened.tail);
    this.#filled = opened.tail.byteLength;
    this.#recorded = opened.recorded;
    // Opened below the recorded offset: the stored tail is longer than this one.
    this.#tailStored = opened.recorded;
  }

  get offset(): number {
    return (this.#parts.length + (this.#flight ? 1 : 0)) * this.#context.partSize +
      (this.#stream?.written ?? 0) + this.#filled;
  }

  expect(bytes: number): void {
    this.#expected = bytes;
  }

  /** A part still streaming cannot be kept if the request ends now: its bytes are not counted. */
  get keptOffset(): number {
    return this.offset - (this.#stream?.written ?? 0);
  }

  async append(chunk: Uint8Array): Promise<void> {
    this.#assertOpen();
    let from = 0;
    const expected = this.#expected;
    if (expected !== null) this.#expected = Math.max(0, expected - chunk.byteLength);
    while (from < chunk.byteLength) {
      if (this.#stream) {
        from += await this.#feed(chunk.subarray(from));
        continue;
      }
      const { bucket, partSize } = this.#context;
      if (
        bucket.uploadPartStream && this.#filled === 0 && expected !== null &&
        expected - from >= partSize
      ) {
        await this.#startStream();
        continue;
      }
      this.#buffer ??= this.#spare ?? this.#lend();
      if (this.#buffer === this.#spare) this.#spare = null;
      const take = Math.min(chunk.byteLength - from, this.#buffer.byteLength - this.#filled);
      this.#buffer.set(chunk.subarray(from, from + take), this.#filled);
      this.#filled += take;
      this.#tailStored = false;
      from += take;
      if (this.#filled === this.#buffer.byteLength) await this.#sendPart();
    }
  }

  async rollback(offset: number): Promise<void> {
    this.#assertOpen();
    if (this.#stream) {
      const partStart = this.offset - this.#stream.written;
      if (offset !== this.#opened.offset && offset !== partStart) {
        throw new RangeError(`Cannot roll back into a part being streamed, to ${offset}`);
      }
      // Its bytes are dropped anyway: the part is abandoned, and the handle is whole again.
      await this.#cut();
      this.#broken = false;
    }
    await this.#settle();
    if (!Number.isInteger(offset) || offset < this.#opened.offset || offset > this.offset) {
      throw new RangeError(
        `Rollback offset must be between ${this.#opened.offset} and ${this.offset}, got ${offset}`,
      );
    }
    const flushed = this.#parts.length * this.#context.partSize;
    if (offset >= flushed) {
      this.#filled = offset - flushed;
      this.#tailStored = false;
      return;
    }
    if (offset !== this.#opened.offset) {
      // The bytes between the start and `offset` went into a part, which cannot be read back.
      throw new RangeError(`Cannot roll back into a part already sent, to ${offset}`);
    }
    // Forget this handle's parts and read the stored tail back.
    this.#parts = [...this.#opened.parts];
    const tail = await readTail(this.#context.bucket, this.#key, this.#opened, this.path);
    this.#buffer ??= this.#spare ?? this.#lend();
    if (this.#buffer === this.#spare) this.#spare = null;
    this.#buffer.set(tail);
    this.#filled = tail.byteLength;
    this.#tailStored = true;
  }

  async release(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      const cut = await this.#cut();
      // A part that fails now is thrown, and nothing is recorded: the bytes after it are not kept.
      await this.#settle();
      if (cut) {
        throw new UploadError(
          "UPLOAD_STORE_FAILED",
          `The request for ${this.path} ended inside a streamed part; the upload stays at ${this.#opened.offset}`,
        );
      }
      if (!this.#broken) await this.#record();
    } finally {
      this.#giveBuffers();
    }
  }

  /** Writes the tail (when it changed) and the progress to the info object. */
  async #record(): Promise<void> {
    const { bucket, info } = this.#context;
    const unchanged = this.#tailStored && this.#parts.length === this.#opened.parts.length &&
      this.#uploadId === this.#opened.uploadId;
    if (unchanged && this.#recorded) return;
    let tail: string | null = this.#tailStored ? this.#opened.tail : null;
    if (!this.#tailStored && this.#filled > 0) {
      tail = await bucket.put(tailKey(this.#key), this.#buffer!.slice(0, this.#filled));
    }
    const current = await info.read(this.#key, this.path);
    await info.write(this.#key, {
      record: current?.record ?? null,
      upload: {
        offset: this.offset,
        partSize: this.#context.partSize,
        uploadId: this.#uploadId,
        parts: this.#parts,
        tail: this.#filled > 0 ? tail : null,
      },
    });
  }

  async finalize(): Promise<StoredFile> {
    this.#assertOpen();
    this.#closed = true;
    try {
      return await this.#complete();
    } finally {
      await this.#cut();
      // A part that failed mid-way is awaited before its buffer goes back.
      await this.#settle().catch(() => {});
      this.#giveBuffers();
    }
  }

  /** Sends the last part and completes the multipart upload (or PUTs a small file whole). */
  async #complete(): Promise<StoredFile> {
    const { bucket, info } = this.#context;
    await this.#settle();
    const size = this.offset;
    if (this.#uploadId === null) {
      await bucket.put(this.#key, this.#buffer!.slice(0, this.#filled));
    } else {
      if (this.#filled > 0) await this.#sendPart();
      await this.#settle();
      await bucket.completeMultipart(this.#key, this.#uploadId, this.#parts);
    }
    await bucket.delete([tailKey(this.#key)]);
    const current = await info.read(this.#key, this.path);
    await info.write(this.#key, { record: current?.record ?? null, upload: null });
    return { path: this.path, size };
  }

  async abort(): Promise<void> {
    this.#closed = true;
    await this.#cut();
    await this.#settle().catch(() => {});
    this.#giveBuffers();
    await discardUpload(this.#context, this.#key, this.#uploadId);
  }

  #lend(): Uint8Array<ArrayBuffer> {
    // The pool has no limit, so take() always lends one.
    const buffer = this.#context.buffers.take()!;
    this.#lent.push(buffer);
    return new Uint8Array(buffer);
  }

  /** Returns the part buffers to the pool, once; nothing reads them after the handle closed. */
  #giveBuffers(): void {
    for (const buffer of this.#lent.splice(0)) this.#context.buffers.give(buffer);
    this.#buffer = this.#spare = null;
  }

  /**
   * Waits for the part in flight, starts the multipart upload if this is its
   * first part (a failure there breaks the upload), and names the next part.
   */
  async #nextPart(): Promise<PartTarget> {
    await this.#settle();
    try {
      this.#uploadId ??= await this.#context.bucket.createMultipart(this.#key);
    } catch (error) {
      this.#broken = true;
      throw error;
    }
    return { key: this.#key, uploadId: this.#uploadId, number: this.#parts.length + 1 };
  }

  /**
   * Starts sending the buffer as the next part, after the part before it was
   * answered, so bytes keep arriving into the other buffer while this one is
   * sent: at most one part in flight and one filling, per request.
   */
  async #sendPart(): Promise<void> {
    const target = await this.#nextPart();
    const { bucket } = this.#context;
    const { number } = target;
    const buffer = this.#buffer!;
    const done = bucket.uploadPart(target, buffer.subarray(0, this.#filled))
      .then((etag) => ({ number, etag }));
    // Its failure is taken up by the next #settle(); until then it is not unhandled.
    done.catch(() => {});
    this.#flight = { buffer, done };
    this.#buffer = null;
    this.#filled = 0;
  }

  /**
   * Starts streaming the next part to the bucket; `#feed()` writes its bytes.
   * The queue between them holds at most `STREAM_QUEUE` bytes, so memory
   * stays bounded by the store's pace, not the client's.
   */
  async #startStream(): Promise<void> {
    const target = await this.#nextPart();
    const { bucket, partSize } = this.#context;
    const { number } = target;
    const pipe = new TransformStream<Uint8Array, Uint8Array>(
      undefined,
      new ByteLengthQueuingStrategy({ highWaterMark: STREAM_QUEUE }),
    );
    const done = bucket.uploadPartStream!(target, pipe.readable, partSize)
      .then((etag) => ({ number, etag }));
    done.catch(() => {});
    // Settles only when the part fails, so waiting on the queue never outlives the upload.
    const failed = done.then(() => new Promise<never>(() => {}));
    failed.catch(() => {});
    this.#stream = { writer: pipe.writable.getWriter(), written: 0, done, failed };
  }

  /** Writes bytes of the streamed part (a copy: the caller reuses its buffer); returns how many. */
  async #feed(bytes: Uint8Array): Promise<number> {
    const stream = this.#stream!;
    const partSize = this.#context.partSize;
    const take = Math.min(bytes.byteLength, partSize - stream.written);
    stream.writer.write(bytes.slice(0, take)).catch(() => {});
    stream.written += take;
    this.#tailStored = false;
    try {
      await Promise.race([stream.writer.ready, stream.failed]);
    } catch (error) {
      this.#broken = true;
      throw error;
    }
    if (stream.written === partSize) {
      stream.writer.close().catch(() => {});
      this.#stream = null;
      this.#flight = { buffer: null, done: stream.done };
    }
    return take;
  }

  /**
   * Abandons a part still streaming: its bytes are not all here and cannot be
   * read back, so the handle is broken and records nothing.
   *
   * @returns Whether there was one.
   */
  async #cut(): Promise<boolean> {
    const stream = this.#stream;
    if (!stream) return false;
    this.#stream = null;
    this.#broken = true;
    await stream.writer.abort(new Error("The request ended inside this part")).catch(() => {});
    await stream.done.catch(() => {});
    return true;
  }

  /** Waits for the part in flight and lists it; a failure breaks the handle. */
  async #settle(): Promise<void> {
    const flight = this.#flight;
    if (!flight) return;
    try {
      this.#parts.push(await flight.done);
    } catch (error) {
      this.#broken = true;
      throw error;
    } finally {
      this.#flight = null;
      if (flight.buffer) this.#spare = flight.buffer;
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new UploadError("UPLOAD_CLOSED", `The upload of ${this.path} is already closed`);
    }
    if (this.#broken) {
      throw new UploadError(
        "UPLOAD_STORE_FAILED",
        `A part of ${this.path} failed to send; reopen the upload to continue`,
      );
    }
  }
}

/** The most bytes queued between a request and the part it streams to the bucket. */
const STREAM_QUEUE = 1 << 20;

/** A part whose bytes are being streamed to the bucket. */
interface StreamedPart {
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Bytes written so far, of `partSize`. */
  written: number;
  readonly done: Promise<UploadedPart>;
  /** Rejects when the part fails; never resolves otherwise. */
  readonly failed: Promise<never>;
}

/**
 * Reads `<key>.part` back, checking it is the tail the progress recorded:
 * a crash between writing the tail and writing the info object leaves another.
 *
 * @throws {UploadError} `UPLOAD_RECORD_CORRUPT` when it is missing or another tail.
 */
export async function readTail(
  bucket: ObjectBucket,
  key: string,
  progress: MultipartProgress,
  id: string,
): Promise<Uint8Array> {
  if (progress.tail === null) return new Uint8Array(0);
  const found = await bucket.get(tailKey(key));
  const expected = progress.offset - progress.parts.length * progress.partSize;
  if (!found || found.etag !== progress.tail || found.bytes.byteLength !== expected) {
    throw new UploadError(
      "UPLOAD_RECORD_CORRUPT",
      `The stored tail of upload ${id} is not the one its info object names`,
    );
  }
  return found.bytes;
}

/** Abandons the multipart upload (if any) and deletes every object of the unfinished upload. */
export async function discardUpload(
  context: ObjectUploadContext,
  key: string,
  uploadId: string | null,
): Promise<void> {
  if (uploadId !== null) await context.bucket.abortMultipart(key, uploadId);
  // The info object goes through `info`, so a request holding the lock reads it as gone too.
  await Promise.all([
    context.bucket.delete([tailKey(key)]),
    context.info.write(key, { upload: null, record: null }),
  ]);
}
