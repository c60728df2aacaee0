/**
 * Rewrites an event stream's line ends (CRLF, CR and LF are all allowed by the SSE
 * spec) as LF before it reaches `eventsource-parser`.
 *
 * Why: eventsource-parser 3.x keeps a CR that ends a chunk until the next chunk shows
 * whether an LF follows, so an event whose blank line is a bare CR at the end of a chunk
 * waits for the next bytes (a heartbeat, seconds later). 4.x decides at once but needs
 * Node 22.12, above Kiln's Node floor. A CR never belongs to a field's value (it always
 * ends the line), so turning each line end into LF loses nothing.
 *
 * @module
 */

/**
 * @returns a function that takes the decoded chunks of one stream, in order, and
 *   returns them with every line end written as LF
 *
 * @example A CRLF split across two chunks is one line end
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineEndsToLf } from "./_sse_line_ends.ts";
 *
 * const toLf = lineEndsToLf();
 * assert.equal(toLf("data: a\r"), "data: a\n");
 * assert.equal(toLf("\ndata: b\r\r"), "data: b\n\n");
 * ```
 */
export function lineEndsToLf(): (text: string) => string {
  // A chunk that ended with CR was already taken as a whole line end; an LF starting
  // the next chunk is the second half of that CRLF.
  let pendingCr = false;
  return (text) => {
    if (text === "") return text;
    if (pendingCr && text.charCodeAt(0) === 10) text = text.slice(1);
    pendingCr = text.endsWith("\r");
    return text.replace(/\r\n?/g, "\n");
  };
}
