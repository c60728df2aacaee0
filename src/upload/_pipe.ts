import { UploadError } from "./errors.ts";
import type { ProgressCallback, StoredFile, UploadStore } from "./store.ts";

/** `uploadWithProgress` for any store, built on its chunked uploads. */
export async function pipeToStore(
  store: UploadStore,
  path: string,
  stream: ReadableStream<Uint8Array>,
  onProgress?: ProgressCallback,
): Promise<StoredFile> {
  const upload = await store.startChunkedUpload(path);
  const reader = stream.getReader();
  try {
    let written = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await upload.append(value);
      written += value.byteLength;
      onProgress?.(written);
    }
    return await upload.finalize();
  } catch (error) {
    // Leave nothing behind: a half-written file would look like a finished one later.
    await reader.cancel(error).catch(() => {});
    await upload.abort().catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}

/**
 * `concatenate` for a store that keeps bytes itself (memory, file system):
 * each source is read and appended in turn to a new chunked upload, so a
 * failure leaves nothing at `path`.
 *
 * @throws {UploadError} `UPLOAD_NOT_FOUND` when a source is not a finished file.
 */
export async function concatenateByCopy(
  store: UploadStore,
  path: string,
  sources: readonly string[],
): Promise<StoredFile> {
  const streams: ReadableStream<Uint8Array>[] = [];
  for (const source of sources) {
    const stream = await store.read(source);
    if (!stream) {
      for (const opened of streams) await opened.cancel();
      throw new UploadError("UPLOAD_NOT_FOUND", `No finished file at ${source}`);
    }
    streams.push(stream);
  }
  const joined = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (streams.length > 0) {
        const reader = streams[0].getReader();
        const { done, value } = await reader.read();
        reader.releaseLock();
        if (!done) return controller.enqueue(value);
        streams.shift();
      }
      controller.close();
    },
    async cancel(reason) {
      for (const stream of streams) await stream.cancel(reason);
    },
  });
  return await pipeToStore(store, path, joined);
}
