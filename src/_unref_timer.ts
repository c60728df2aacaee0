/**
 * The one place that knows how each runtime lets a timer stop keeping the
 * process alive (croner's `unrefTimer()` does the same).
 *
 * @module
 */

/**
 * Lets a timer stop keeping the process alive, where the runtime allows it:
 * Deno has `Deno.unrefTimer(id)`, Node and Bun return a `Timeout` with
 * `unref()`. Browsers and Workers have neither, and need neither.
 */
export function unrefTimer(handle: unknown): void {
  if (typeof handle === "object" && handle !== null) {
    const unref = (handle as { unref?: unknown }).unref;
    if (typeof unref === "function") unref.call(handle);
    return;
  }
  // Feature-detected, never imported: src/ stays free of runtime-specific imports.
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof handle === "number" && typeof deno?.unrefTimer === "function") {
    deno.unrefTimer(handle);
  }
}
