/**
 * A value that starts with U+FEFF (a byte order mark) comes back with it: the gateway
 * decodes each reply string on its own, and a default TextDecoder drops a leading BOM
 * from every one of them.
 */
import assert from "node:assert/strict";
import { startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

Deno.test("strings starting with U+FEFF keep it in single, pipeline and nested replies", async () => {
  await using stack = await startRedisStack();
  const value = "\uFEFFstarts with a BOM";
  assert.equal((await post(stack, "/", ["SET", "bom", value])).status, 200);
  assert.deepEqual(await post(stack, "/", ["GET", "bom"]), {
    status: 200,
    body: { result: value },
  });
  assert.deepEqual(await post(stack, "/pipeline", [["GET", "bom"], ["RPUSH", "list", value]]), {
    status: 200,
    body: [{ result: value }, { result: 1 }],
  });
  assert.deepEqual(await post(stack, "/", ["LRANGE", "list", 0, -1]), {
    status: 200,
    body: { result: [value] },
  });
});
