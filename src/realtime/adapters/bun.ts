/**
 * How many bytes a runtime's socket still holds to send, read off whatever
 * shape its raw socket has: the standard `bufferedAmount` (Deno, browsers,
 * Node's `ws`) or Bun's `getBufferedAmount()`; Workers say nothing.
 *
 * @module
 */

/** The bytes `raw` has queued but not yet sent; 0 where the runtime does not say (Workers). */
export function bufferedAmount(raw: unknown): number {
  if (typeof raw !== "object" || raw === null) return 0;
  const socket = raw as { bufferedAmount?: unknown; getBufferedAmount?: unknown };
  if (typeof socket.bufferedAmount === "number") return socket.bufferedAmount;
  // Bun's ServerWebSocket exposes it as a method.
  if (typeof socket.getBufferedAmount === "function") {
    return (socket.getBufferedAmount as () => number)();
  }
  return 0;
}
