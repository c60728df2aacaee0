/**
 * Upstash's path form of a command (https://upstash.com/docs/redis/features/restapi):
 * `/set/foo/bar/EX/100` is `SET foo bar EX 100`, each segment percent-decoded. A POST or
 * PUT body, when there is one, is appended as the last argument exactly as sent (a JSON
 * or binary value need not be escaped into the URL), and query parameters after it, each
 * as its name then its value (`/set/foo?EX=100` with body `bar` is `SET foo bar EX 100`).
 * `_token` is the bearer token, never an argument.
 *
 * @module
 */

import { HttpError } from "./command_rules.ts";
import { type BodyLimits, readBodyText } from "./request_body.ts";
import type { CommandArgs } from "./redis_reply.ts";

/** The query parameter Upstash accepts in place of the Authorization header. */
export const TOKEN_PARAMETER = "_token";

/**
 * @param request the incoming request
 * @param path its path, e.g. `/set/foo/bar`
 * @param bodyLimits how large a body may be and how long it may take
 * @returns the command the path, body and query spell
 * @throws {HttpError} 400 for a segment that is not valid percent-encoding, 413 for a
 *   body over the limit, 408 for one that arrives too slowly
 */
export async function pathCommand(
  request: Request,
  path: string,
  bodyLimits: BodyLimits,
): Promise<CommandArgs> {
  const command: string[] = [];
  for (const segment of path.slice(1).split("/")) {
    try {
      command.push(decodeURIComponent(segment));
    } catch {
      throw new HttpError(400, `Path segment "${segment}" is not valid percent-encoding`);
    }
  }
  if (command[0] === "") throw new HttpError(400, "Command is empty");
  if (request.method === "POST" || request.method === "PUT") {
    const body = await readBodyText(request, bodyLimits);
    if (body.length > 0) command.push(body);
  } else {
    await request.body?.cancel().catch(() => {});
  }
  const query = request.url.indexOf("?");
  if (query >= 0) {
    for (const [name, value] of new URLSearchParams(request.url.slice(query + 1))) {
      if (name === TOKEN_PARAMETER) continue;
      command.push(name);
      if (value !== "") command.push(value);
    }
  }
  return command;
}
