/** Replies of the tus handlers, and the headers every response shares. */
import { TUS_CORS_HEADERS } from "./cors_headers.ts";
import { METHODS, TUS_VERSION } from "./_protocol.ts";
import type { UploadRecord } from "./state.ts";

/** A response waiting for the shared headers. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  message?: string;
}

/**
 * Turns a reply into a response: adds `Tus-Resumable`, the CORS headers when
 * the request's origin is allowed, and the message as a plain-text body.
 */
export function respond(
  request: Request,
  method: string,
  reply: Reply,
  origins: readonly string[] | null,
): Response {
  const headers = new Headers(reply.headers);
  headers.set("Tus-Resumable", TUS_VERSION);
  const origin = request.headers.get("Origin");
  if (
    origin !== null && origins !== null && (origins.includes("*") || origins.includes(origin))
  ) {
    headers.set("Access-Control-Allow-Origin", origins.includes("*") ? "*" : origin);
    headers.set("Access-Control-Expose-Headers", TUS_CORS_HEADERS.exposeHeaders.join(", "));
    if (method === "OPTIONS") {
      headers.set("Access-Control-Allow-Methods", METHODS.join(", "));
      headers.set("Access-Control-Allow-Headers", TUS_CORS_HEADERS.allowHeaders.join(", "));
      headers.set("Access-Control-Max-Age", "86400");
    }
    headers.append("Vary", "Origin");
  }
  const hasBody = reply.message !== undefined && method !== "HEAD" && reply.status !== 204;
  if (hasBody) headers.set("Content-Type", "text/plain; charset=utf-8");
  return new Response(hasBody ? reply.message : null, { status: reply.status, headers });
}

/** The 404 for an unknown upload or the 410 for an expired one; `null` when it can be used. */
export function missingReply(record: UploadRecord | null, now: () => number): Reply | null {
  if (!record) return { status: 404, message: "Upload not found" };
  if (record.completedAt === null && record.expiresAt !== null && record.expiresAt <= now()) {
    return { status: 410, message: "The upload has expired" };
  }
  return null;
}

/** The answer for an `onCreate` refusal: its status when 400–599, else 403. */
export function refusalReply(refusal: { status?: number; message?: string }): Reply {
  const status = Number.isInteger(refusal.status) && refusal.status! >= 400 &&
      refusal.status! <= 599
    ? refusal.status!
    : 403;
  return { status, message: refusal.message ?? "Upload refused" };
}

/** `Upload-Expires`, for an unfinished upload that expires. */
export function expiresHeader(record: UploadRecord): Record<string, string> {
  return record.completedAt === null && record.expiresAt !== null
    ? { "Upload-Expires": new Date(record.expiresAt).toUTCString() }
    : {};
}
