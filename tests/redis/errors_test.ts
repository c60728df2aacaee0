import assert from "node:assert/strict";
import { KilnError, RedisError } from "../../src/errors.ts";

Deno.test("KilnError subclasses take their name from the class and keep the cause", () => {
  const cause = new Error("socket closed");
  const error = new RedisError("REDIS_UNAVAILABLE", "Redis is unreachable", { cause });
  assert.ok(error instanceof KilnError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "RedisError");
  assert.equal(error.code, "REDIS_UNAVAILABLE");
  assert.equal(error.cause, cause);
  assert.match(String(error), /^RedisError: Redis is unreachable/);
});
