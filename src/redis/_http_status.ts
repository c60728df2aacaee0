/**
 * What an HTTP error status from a Redis REST endpoint means for the caller,
 * in one place for commands and subscriptions alike.
 *
 * @module
 */
import type { RedisErrorCode } from "../errors.ts";

/**
 * The error code for a non-2xx answer: an outage or rate limit is worth
 * retrying later, a refused token is not, a body over the endpoint's size
 * limit (413) will never fit, anything else is the command's fault.
 */
export function errorCodeForStatus(status: number): RedisErrorCode {
  if (status >= 500 || status === 429) return "REDIS_UNAVAILABLE";
  if (status === 401 || status === 403) return "REDIS_UNAUTHORIZED";
  if (status === 413) return "REDIS_REQUEST_TOO_LARGE";
  return "REDIS_COMMAND_FAILED";
}
