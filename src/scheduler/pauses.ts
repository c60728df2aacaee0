/**
 * Which tasks an operator paused: in this process's memory, or in Redis
 * beside a `RedisMutex` or `RedisHistory`, so every scheduler instance sharing
 * that Redis and prefix obeys one `pause()`.
 *
 * @module
 */
import type { RedisStore } from "../redis/_store.ts";
import type { RedisCommand, RedisReply } from "../redis/redis_like.ts";
import { RedisError } from "../errors.ts";

/**
 * Where a scheduler keeps its paused tasks. A scheduler takes the one its
 * history or mutex offers (`RedisHistory` and `RedisMutex` keep them in their
 * Redis), else keeps them in memory.
 */
export interface TaskPauses {
  /** The names of the paused tasks. */
  paused(): Promise<ReadonlySet<string>>;
  /** Pauses a task; pausing it again changes nothing. */
  pause(task: string): Promise<void>;
  /** Resumes a task; resuming one that is not paused changes nothing. */
  resume(task: string): Promise<void>;
}

/** Paused tasks in this process's memory: one scheduler instance obeys them. */
export class MemoryPauses implements TaskPauses {
  #paused = new Set<string>();
  paused = (): Promise<ReadonlySet<string>> => Promise.resolve(new Set(this.#paused));
  pause = (task: string): Promise<void> => Promise.resolve(void this.#paused.add(task));
  resume = (task: string): Promise<void> => Promise.resolve(void this.#paused.delete(task));
}

/**
 * Paused tasks in one Redis set, `<prefix>:{scheduler}:paused`, so every
 * instance on that Redis and prefix obeys. The set never expires: a pause
 * holds until someone resumes the task.
 */
export class RedisPauses implements TaskPauses {
  #store: RedisStore;
  #key: string;

  constructor(store: RedisStore) {
    this.#store = store;
    this.#key = store.keys.key("paused");
  }

  async paused(): Promise<ReadonlySet<string>> {
    const reply = await this.#one(["SMEMBERS", this.#key]);
    if (!Array.isArray(reply)) {
      throw new RedisError("REDIS_UNEXPECTED_REPLY", "SMEMBERS of the paused tasks is not a list");
    }
    return new Set(reply.map(String));
  }

  async pause(task: string): Promise<void> {
    await this.#one(["SADD", this.#key, task]);
  }

  async resume(task: string): Promise<void> {
    await this.#one(["SREM", this.#key, task]);
  }

  async #one(command: RedisCommand): Promise<RedisReply> {
    const [result] = await this.#store.redis.pipeline([command]);
    if (!result.ok) throw new RedisError("REDIS_COMMAND_FAILED", result.error);
    return result.reply;
  }
}
