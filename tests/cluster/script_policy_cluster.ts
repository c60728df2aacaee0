/**
 * In --cluster mode too, scripts and functions are held to the command policy: every
 * node's connections run as the gateway's narrowed ACL user, so FLUSHALL from Lua is
 * refused by Redis on whichever master the script's key routes to, also on a master
 * that restarted empty of ACL users.
 */

import assert from "node:assert/strict";
import { startClusterStack } from "./_cluster_stack.ts";
import { post } from "../gateway/_http.ts";

const SCRIPT_NOPERM = /user executing the script can't run this command|NOPERM/;

Deno.test("the clustered gateway's scripts cannot run commands the policy refuses", async () => {
  await using stack = await startClusterStack({ allow: [] });
  const tags = ["a", "b", "c", "d", "e", "f"]; // spread over the three masters
  for (const tag of tags) await stack.redis.set(`kiln:{${tag}}:kept`, "value");
  for (const tag of tags) {
    const key = `kiln:{${tag}}:kept`;
    const wipe = await post(stack, "/", ["EVAL", "return redis.call('FLUSHALL')", 1, key]);
    assert.match(String((wipe.body as { error?: string }).error), SCRIPT_NOPERM, tag);
    const script = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])";
    const allowed = await post(stack, "/", ["EVAL", script, 1, `kiln:{${tag}}:e`, "w"]);
    assert.deepEqual(allowed.body, { result: "w" }, tag);
  }
  for (const tag of tags) assert.equal(await stack.redis.get(`kiln:{${tag}}:kept`), "value");
  const whoami = await post(stack, "/", ["ACL", "WHOAMI"]);
  assert.match((whoami.body as { result: string }).result, /^kiln-gateway-[0-9a-f]{16}$/);
});
