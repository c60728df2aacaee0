/**
 * Helpers for the object store tests: a tus server on an `S3Store` over the
 * R2 simulator's S3 API, tus-js-client driven to the end or to an abort, and
 * what the bucket holds, read over the same S3 API with plain aws4fetch.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Hono } from "hono";
import { AwsClient } from "aws4fetch";
import * as tusClient from "tus-js-client";
import { uploads, type UploadsOptions } from "../../src/upload/mod.ts";
import { S3Store, type S3StoreOptions } from "../../src/upload/s3/mod.ts";
import type { R2Simulator } from "./_r2_simulator.ts";
import { serve } from "./_serve.ts";

/** The smallest part S3 and R2 allow, used so tests cross part boundaries with few bytes. */
export const PART = 5 * 1024 * 1024;

/** An S3Store on the simulator's bucket. */
export function s3Store(bucket: R2Simulator, options: Partial<S3StoreOptions> = {}): S3Store {
  return new S3Store({
    endpoint: bucket.s3Endpoint,
    accessKeyId: bucket.accessKeyId,
    secretAccessKey: bucket.secretAccessKey,
    partSize: PART,
    ...options,
  });
}

/** A tus server on a real socket, mounted at /files. */
export async function serveUploads(options: UploadsOptions) {
  const files = uploads(options);
  const served = await serve(new Hono().route("/files", files));
  return {
    files,
    endpoint: `${served.url}/files`,
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

/** Options for {@linkcode runTusClient}. */
export interface TusRun {
  endpoint?: string;
  uploadUrl?: string;
  chunkSize?: number;
  parallelUploads?: number;
  /** Aborts once this many bytes are accepted, resolving with the URL. */
  stopAfter?: number;
  /** Sent with every request, such as `Authorization`. */
  headers?: Record<string, string>;
}

/** Runs tus-js-client (unmodified) until it finishes or `stopAfter`, resolving its URL. */
export function runTusClient(data: Uint8Array, run: TusRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const client: tusClient.Upload = new tusClient.Upload(Buffer.from(data), {
      endpoint: run.endpoint,
      uploadUrl: run.uploadUrl,
      chunkSize: run.chunkSize ?? Infinity,
      parallelUploads: run.parallelUploads ?? 1,
      headers: run.headers ?? {},
      retryDelays: [],
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: false,
      onError: reject,
      onSuccess: () => resolve(client.url!),
      onChunkComplete: (_size, accepted) => {
        if (run.stopAfter !== undefined && accepted >= run.stopAfter) {
          client.abort().then(() => resolve(client.url!), reject);
        }
      },
    });
    client.start();
  });
}

/** The SHA-256 of some bytes, as hex. */
export async function sha256(data: Uint8Array): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data))).toHex();
}

/** Reads the bucket directly over its S3 API. */
export function bucketReader(bucket: R2Simulator) {
  const client = new AwsClient({
    accessKeyId: bucket.accessKeyId,
    secretAccessKey: bucket.secretAccessKey,
    service: "s3",
    region: "auto",
  });
  return {
    /** Every key in the bucket, sorted. */
    async keys(): Promise<string[]> {
      const response = await client.fetch(`${bucket.s3Endpoint}?list-type=2`);
      assert.equal(response.status, 200);
      const text = await response.text();
      return [...text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]).sort();
    },
    /** An object's bytes, or `null`. */
    async bytes(key: string): Promise<Uint8Array<ArrayBuffer> | null> {
      const response = await client.fetch(`${bucket.s3Endpoint}${key}`);
      if (response.status === 404) return null;
      assert.equal(response.status, 200);
      return new Uint8Array(await response.arrayBuffer());
    },
    /** Whether the multipart upload still takes parts (ListMultipartUploads is 501 here). */
    async takesParts(key: string, uploadId: string): Promise<boolean> {
      const url = `${bucket.s3Endpoint}${key}?partNumber=1&uploadId=${
        encodeURIComponent(uploadId)
      }`;
      const response = await client.fetch(url, { method: "PUT", body: new Uint8Array(1) });
      await response.body?.cancel();
      return response.ok;
    },
  };
}
