/**
 * The gathering window a subscription may ask Kiln's gateway for
 * (`SubscribeHandlers.gatherMs`): the request header that carries it and its
 * bound, shared by the client that sends it and the gateway that honours it.
 *
 * @module
 */

/** The request header of a `/subscribe` or `/psubscribe` call that asks for a window. */
export const GATHER_HEADER = "kiln-gather-ms";

/**
 * The longest window, in ms: long enough for any live view, short enough that
 * nothing is held for long.
 */
export const MAX_GATHER_MS = 1_000;
