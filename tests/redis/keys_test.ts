import assert from "node:assert/strict";
import { Keyspace } from "../../src/redis/keys.ts";

Deno.test("Keyspace puts every key of a namespace under one hash tag", () => {
  const keys = new Keyspace("mail");
  assert.equal(keys.base, "kiln:{mail}");
  assert.equal(keys.key("ready"), "kiln:{mail}:ready");
  assert.equal(keys.key("unique", "order:7"), "kiln:{mail}:unique:order:7");
  assert.equal(keys.key(), "kiln:{mail}");
});

Deno.test("Keyspace takes a custom prefix so apps can share one Redis", () => {
  assert.equal(new Keyspace("mail", "shop").key("jobs"), "shop:{mail}:jobs");
});

Deno.test("Keyspace refuses namespaces that would move or split the hash tag", () => {
  for (const bad of ["", "a{b", "a}b", "two words", "tab\t"]) {
    assert.throws(() => new Keyspace(bad), TypeError, `namespace ${JSON.stringify(bad)}`);
  }
  assert.throws(() => new Keyspace("ok", "{x}"), TypeError);
});
