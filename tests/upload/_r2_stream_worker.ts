/**
 * A worker for the streamed-parts test: `uploads()` on an `R2Store` whose
 * binding is the real `env.BUCKET`, wrapped only to note what each
 * `uploadPart` was given (a stream or bytes); `GET /sent` answers the notes.
 */
import { Hono } from "hono";
import { uploads } from "../../src/upload/mod.ts";
import { R2Store } from "../../src/upload/r2/mod.ts";
import type { R2BucketBinding, R2MultipartUploadLike } from "../../src/upload/r2/binding.ts";

const sent: string[] = [];
let app: Hono | null = null;

function noting(upload: R2MultipartUploadLike): R2MultipartUploadLike {
  return {
    uploadId: upload.uploadId,
    abort: () => upload.abort(),
    complete: (parts) => upload.complete(parts),
    uploadPart(number, value) {
      sent.push(`${value instanceof ReadableStream ? "stream" : "buffer"} ${number}`);
      return upload.uploadPart(number, value);
    },
  };
}

function build(bucket: R2BucketBinding): Hono {
  const wrapped = new Proxy(bucket, {
    get(target, name) {
      if (name === "resumeMultipartUpload") {
        return (key: string, id: string) => noting(target.resumeMultipartUpload(key, id));
      }
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const files = uploads({
    store: new R2Store({ bucket: wrapped, prefix: "uploads/", partSize: 8 * 1024 * 1024 }),
    maxSize: 1 << 30,
  });
  return new Hono().route("/files", files).get("/sent", (c) => c.json(sent));
}

export default {
  fetch(request: Request, env: { BUCKET: R2BucketBinding }): Response | Promise<Response> {
    app ??= build(env.BUCKET);
    return app.fetch(request);
  },
};
