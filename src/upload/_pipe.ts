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
