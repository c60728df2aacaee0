/**
 * The ways `@upstash/redis` can reach the gateway; the suite runs every case once per mode.
 *
 * @module
 */

import { Redis } from "@upstash/redis";

/** How a client reaches the gateway. */
export interface Mode {
  readonly id: string;
  readonly name: string;
  client(url: string, token: string): Redis;
  /** Methods this mode cannot reach in the SDK itself, each with the reason (shown as ignored). */
  readonly sdkLimits?: Readonly<Record<string, string>>;
}

const AUTO_PIPELINE_HIDES_ERROR = "the SDK's auto-pipeline turns Redis's error into a TypeError";

/** One command per request with base64 replies: the mode every other reading starts from. */
export const SINGLE: Mode = {
  id: "single",
  name: "one command per request, base64 replies",
  client: (url, token) =>
    new Redis({ url, token, enableTelemetry: false, retry: false, enableAutoPipelining: false }),
};

/** Every mode: one command per request, auto-pipelined (the SDK's default), plain JSON. */
export const MODES: readonly Mode[] = [
  SINGLE,
  {
    id: "auto",
    name: "auto-pipelined (the SDK's default)",
    client: (url, token) => new Redis({ url, token, enableTelemetry: false, retry: false }),
    sdkLimits: {
      // The auto-pipeline proxy wraps bitfield() in a promise, so the builder's
      // set()/get()/incrby() are unreachable and exec() sends an empty pipeline.
      bitfield: "the SDK's auto-pipeline proxy hides bitfield()'s builder",
      // These deserializers run on a failed command's missing result inside an
      // auto-pipeline and throw a TypeError that hides Redis's error (the one-command
      // modes show Redis's error reaches the SDK).
      hgetdel: AUTO_PIPELINE_HIDES_ERROR,
      hgetex: AUTO_PIPELINE_HIDES_ERROR,
      argrep: AUTO_PIPELINE_HIDES_ERROR,
      arinfo: AUTO_PIPELINE_HIDES_ERROR,
      arscan: AUTO_PIPELINE_HIDES_ERROR,
    },
  },
  {
    id: "plain",
    name: "one command per request, plain JSON replies",
    client: (url, token) =>
      new Redis({
        url,
        token,
        enableTelemetry: false,
        retry: false,
        enableAutoPipelining: false,
        responseEncoding: false,
      }),
  },
];
