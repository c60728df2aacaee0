/**
 * What the Redis stores of one hub instance (its presence members and its
 * connection slots) are built from: one Redis, one prefix and one heartbeat
 * timing, validated once by `RedisFanout`.
 *
 * @module
 */
import type { ScriptRunner } from "../redis/script.ts";
import type { Clock } from "../clock.ts";

/** The settings an instance's Redis stores share. */
export interface InstanceStoreOptions {
  runner: ScriptRunner;
  /** The key prefix: instances with the same prefix (and Redis) form one hub. */
  prefix: string;
  /** The instance whose members and slots these are. */
  instanceId: string;
  clock: Clock;
  /** How long what an instance holds outlives its last heartbeat, in milliseconds. */
  ttl: number;
  /** How often the instance renews what it holds, in milliseconds. */
  heartbeatInterval: number;
  onError: (error: unknown, context: string) => void;
}
