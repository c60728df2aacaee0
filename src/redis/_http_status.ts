/**
 * What an HTTP error status from a Redis REST endpoint means for the caller,
 * in one place for commands and subscriptions alike.
 *
 * @module
 */
import type { RedisErrorCode } from "../errors.ts";

/**
 * The error code for a non-2xx answer: an outage or rate limit is worth
 * retrying later, a refused token is not, anything else is the command's fault.
 */
export function errorCodeForStatus(status: number): RedisErrorCode {
  if (status >= 500 || status === 429) return "REDIS_UNAVAILABLE";
  if (status === 401 || status === 403) return "REDIS_UNAUTHORIZED";
  return "REDIS_COMMAND_FAILED";
}
