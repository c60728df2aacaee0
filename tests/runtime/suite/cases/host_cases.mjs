/**
 * Cases a runner performs itself rather than through a shared `run` function,
 * because they need the host's tools (Miniflare's scheduled-event delivery, a
 * reload of the worker). They are declared here, beside the shared list, so
 * that `run.ts` expects them as it expects every other case: a runner that
 * forgets one fails its count.
 *
 * No imports on purpose: the workerd runner reads this file in Node without
 * loading the cases themselves.
 *
 * @module
 */

/**
 * @typedef {object} HostCase
 * @property {string} suite The suite the runner reports it under.
 * @property {string} name A sentence about the behaviour.
 * @property {import("./mod.mjs").Runtime[]} runtimes The runtimes whose runner performs it.
 * @property {string} because Why it lives in the runner.
 */

/** The workerd runner's scheduled-event case (`../workerd/workerd.test.mjs`). */
export const SCHEDULED_EVENT = {
  suite: "scheduler (scheduled event)",
  name: "a scheduled event delivered by Miniflare runs the due task once per scheduled time, " +
    "and a repeated delivery, even to a fresh isolate, runs nothing",
  runtimes: ["workerd"],
  because: "only Miniflare delivers a Workers scheduled event and reloads the isolate",
};

/** @type {HostCase[]} */
export const hostCases = [SCHEDULED_EVENT];
