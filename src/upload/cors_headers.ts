/**
 * The headers and methods tus needs through CORS.
 *
 * @module
 */
import { METHODS } from "./_protocol.ts";

/**
 * Headers a browser must be allowed to send and to read for tus to work,
 * for a CORS setup of your own (the `cors` option sets them for you).
 */
export const TUS_CORS_HEADERS: {
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowMethods: readonly string[];
} = {
  allowHeaders: [
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "X-HTTP-Method-Override",
    "X-Requested-With",
  ],
  exposeHeaders: [
    "Location",
    "Tus-Checksum-Algorithm",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Resumable",
    "Tus-Version",
    "Upload-Defer-Length",
    "Upload-Expires",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
  ],
  allowMethods: METHODS,
};
