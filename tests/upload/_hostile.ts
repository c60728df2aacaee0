/**
 * Helpers for hostile tests of the PATCH path: a raw HTTP/1.1 client that can
 * trickle a body and drop the connection mid-way, a state that tells when a
 * request lets go of an upload's lock, and a server on either kind of state.
 */
import { Hono } from "hono";
import {
  MemoryStore,
  MemoryUploadState,
  RedisUploadState,
  type UploadInfo,
  type UploadProgress,
  uploads,
  type UploadsOptions,
} from "../../src/upload/mod.ts";
import type {
  UploadLock,
  UploadRecord,
  UploadState,
  UploadStore,
} from "../../src/upload/store_mod.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { collect, serve, tus } from "./_serve.ts";

/**
 * The kinds of upload state every hostile case runs against: memory, Redis,
 * and a FileStore's own records beside its files.
 */
export const STATE_KINDS = ["memory", "redis", "file"] as const;
/** The same, plus an S3Store on Cloudflare's R2 simulator with the records in its `.info` objects. */
export const STORE_KINDS = [...STATE_KINDS, "s3"] as const;
export type StateKind = typeof STORE_KINDS[number];

/** Wraps a state so a test can wait, by event, until a request releases an upload's lock. */
export class WatchedState implements UploadState {
  #inner: UploadState;
  #waiters: { id: string; resolve: () => void }[] = [];

  constructor(inner: UploadState) {
    this.#inner = inner;
  }

  create(record: UploadRecord): Promise<boolean> {
    return this.#inner.create(record);
  }
  get(id: string): Promise<UploadRecord | null> {
    return this.#inner.get(id);
  }
  save(record: UploadRecord): Promise<boolean> {
    return this.#inner.save(record);
  }
  delete(id: string): Promise<boolean> {
    return this.#inner.delete(id);
  }
  due(now: number, limit: number): Promise<string[]> {
    return this.#inner.due(now, limit);
  }
  async lock(id: string): Promise<UploadLock | null> {
    const lock = await this.#inner.lock(id);
    if (!lock) return null;
    return {
      release: async () => {
        await lock.release();
        this.#waiters = this.#waiters.filter((waiter) => {
          if (waiter.id !== id) return true;
          waiter.resolve();
          return false;
        });
      },
    };
  }

  /** Resolves after the next release of `id`'s lock; call it before causing the release. */
  released(id: string): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ id, resolve }));
  }
}

/** Every `onProgress` call, and a way to wait for an offset. */
export class ProgressLog {
  readonly events: UploadProgress[] = [];
  #waiters: { id: string; offset: number; resolve: () => void }[] = [];

  push(progress: UploadProgress): void {
    this.events.push(progress);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.id !== progress.id || progress.offset < waiter.offset) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once the server reports at least `offset` bytes of `id` stored. */
  reached(id: string, offset: number): Promise<void> {
    if (this.events.some((event) => event.id === id && event.offset >= offset)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push({ id, offset, resolve }));
  }

  /** The offset of the last event for `id`. */
  last(id: string): number | undefined {
    return this.events.filter((event) => event.id === id).at(-1)?.offset;
  }
}

/**
 * A tus server over a real socket: a MemoryStore with memory or Redis state,
 * a FileStore in a fresh temp directory with its own records, or an S3Store
 * on a fresh R2 simulator with its own records.
 */
export async function hostileServer(kind: StateKind, options: Partial<UploadsOptions> = {}) {
  const stack = kind === "redis" ? await startRedisStack() : null;
  const directory = kind === "file" ? await Deno.makeTempDir({ prefix: "kiln-hostile-" }) : null;
  // Loaded only for "s3": miniflare is a large module the other kinds never need.
  const objects = kind === "s3" ? await import("./_object_store_helpers.ts") : null;
  const bucket = objects ? await (await import("./_r2_simulator.ts")).startR2Simulator() : null;
  const store: UploadStore = directory
    ? new FileStore({ directory })
    : bucket
    ? objects!.s3Store(bucket)
    : new MemoryStore();
  const inner = stack
    ? new RedisUploadState({ redis: stack.redis, prefix: crypto.randomUUID() })
    : store.state ?? new MemoryUploadState();
  const state = new WatchedState(inner);
  const progress = new ProgressLog();
  const completed: UploadInfo[] = [];
  const files = uploads({
    store,
    state,
    maxSize: 1 << 20,
    progressInterval: 0,
    onProgress: (event) => progress.push(event),
    onComplete: (upload) => void completed.push(upload),
    ...options,
  });
  const served = await serve(new Hono().route("/files", files));
  const endpoint = `${served.url}/files`;
  return {
    state,
    store,
    progress,
    completed,
    endpoint,
    /** Creates an upload; returns its URL and id. */
    async create(headers: Record<string, string>) {
      const response = await fetch(endpoint, { method: "POST", headers: tus(headers) });
      await response.body?.cancel();
      if (response.status !== 201) throw new Error(`POST answered ${response.status}`);
      const location = response.headers.get("Location")!;
      return { location, id: location.split("/").pop()! };
    },
    /** HEAD, as status and headers. */
    async head(location: string) {
      const response = await fetch(location, { method: "HEAD", headers: tus() });
      await response.body?.cancel();
      return response;
    },
    /** A finished file's bytes. */
    async file(id: string) {
      return await collect(await store.read(id));
    },
    /** Everything the store holds: paths in a MemoryStore, files (and records) below a FileStore. */
    async paths(): Promise<string[]> {
      if (store instanceof MemoryStore) return store.paths();
      if (bucket) return await objects!.bucketReader(bucket).keys();
      const found: string[] = [];
      const walk = async (dir: string, prefix: string) => {
        for await (const entry of Deno.readDir(dir)) {
          if (entry.isDirectory) await walk(`${dir}/${entry.name}`, `${prefix}${entry.name}/`);
          else found.push(`${prefix}${entry.name}`);
        }
      };
      await walk(directory!, "");
      return found.sort();
    },
    async [Symbol.asyncDispose]() {
      await served[Symbol.asyncDispose]();
      await stack?.close();
      await bucket?.[Symbol.asyncDispose]();
      if (directory) await Deno.remove(directory, { recursive: true });
    },
  };
}

/** A response head read off a raw socket. */
export interface RawResponse {
  status: number;
  headers: Headers;
}

/** One HTTP/1.1 request written by hand, so a test can stop mid-body or go silent. */
export class RawRequest implements AsyncDisposable {
  #conn: Deno.Conn;
  #closed = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to `url` and sends the request line and headers (no body yet). */
  static async open(
    method: string,
    url: string,
    headers: Record<string, string>,
  ): Promise<RawRequest> {
    const target = new URL(url);
    const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
    const request = new RawRequest(conn);
    const lines = [`${method} ${target.pathname} HTTP/1.1`, `Host: ${target.host}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    await request.send(new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`));
    return request;
  }

  /** Writes raw bytes. */
  async send(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.byteLength;) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Writes one chunk of a `Transfer-Encoding: chunked` body. */
  async chunk(bytes: Uint8Array): Promise<void> {
    const size = new TextEncoder().encode(`${bytes.byteLength.toString(16)}\r\n`);
    await this.send(Uint8Array.from([...size, ...bytes, 13, 10]));
  }

  /** Reads the response's status line and headers. */
  async response(): Promise<RawResponse> {
    const decoder = new TextDecoder();
    let text = "";
    const buffer = new Uint8Array(4096);
    while (!text.includes("\r\n\r\n")) {
      const read = await this.#conn.read(buffer);
      if (read === null) throw new Error(`The connection closed before a response: ${text}`);
      text += decoder.decode(buffer.subarray(0, read));
    }
    const [statusLine, ...lines] = text.slice(0, text.indexOf("\r\n\r\n")).split("\r\n");
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), headers };
  }

  /** Drops the connection, as a client that vanished mid-body. */
  drop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.drop();
    return Promise.resolve();
  }
}

/** `sha256 <base64>` for an `Upload-Checksum` header. */
export async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return `sha256 ${btoa(String.fromCharCode(...digest))}`;
}

/** A small HTML page padded to `size` bytes. */
export function html(size: number): Uint8Array<ArrayBuffer> {
  const page = new TextEncoder().encode("<!doctype html><html><body><script>alert(1)</script>");
  const out = new Uint8Array(size).fill(0x20);
  out.set(page.subarray(0, size));
  return out;
}
