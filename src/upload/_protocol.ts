/** The constants of tus 1.0.0 as this server speaks it. */

/** The only protocol version served (`Tus-Resumable`, `Tus-Version`). */
export const TUS_VERSION = "1.0.0";

/** The extensions announced in `Tus-Extension`; `concatenation` too when the store can join files. */
export const EXTENSIONS =
  "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination";

/** The extension a store with `concatenate()` adds. */
export const CONCATENATION = "concatenation";

/** The content type of every body that carries upload bytes. */
export const OFFSET_CONTENT_TYPE = "application/offset+octet-stream";

/** The shape of the ids the server generates. */
export const ID = /^[A-Za-z0-9_-]{1,128}$/;

/** The methods tus uses, also announced to browsers through CORS. */
export const METHODS = ["POST", "HEAD", "PATCH", "DELETE", "OPTIONS"];

/** Whether a request's body carries upload bytes. */
export function isOffsetStream(headers: Headers): boolean {
  return headers.get("Content-Type")?.split(";")[0].trim().toLowerCase() === OFFSET_CONTENT_TYPE;
}
