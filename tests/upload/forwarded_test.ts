/** The parser behind `respectForwardedHeaders`: RFC 7239 `Forwarded` and `X-Forwarded-*`. */
import assert from "node:assert/strict";
import { checkHost, forwardedOrigin, lastForwardedElement } from "../../src/upload/_forwarded.ts";

const element = (header: string) => {
  const parsed = lastForwardedElement(header);
  return parsed && Object.fromEntries(parsed);
};

Deno.test("lastForwardedElement() reads tokens, quoted strings with escapes, and the last element", () => {
  assert.deepEqual(element("for=192.0.2.43"), { for: "192.0.2.43" });
  assert.deepEqual(element('For="[2001:db8:cafe::17]:4711"'), { for: "[2001:db8:cafe::17]:4711" });
  assert.deepEqual(element('host="a\\"b";proto=https'), { host: 'a"b', proto: "https" });
  assert.deepEqual(element("host=a, host=b ;proto=http"), { host: "b", proto: "http" });
  assert.deepEqual(element('host="x,y", host=z'), { host: "z" }, "a comma inside quotes");
  assert.deepEqual(element("host=a,,"), {}, "empty list items are allowed");
  assert.deepEqual(element(" ; host=a ; "), { host: "a" });
});

Deno.test("lastForwardedElement() refuses malformed headers and a repeated parameter", () => {
  for (
    const header of [
      'host="unterminated',
      'host="ends with escape\\',
      "host",
      "=value",
      "host=a b",
      "host=a/b",
      "ho st=a",
      "host=a;host=b",
      'host=a, host="x"y',
      "x".repeat(9000) + "=1",
    ]
  ) {
    assert.equal(lastForwardedElement(header), null, header);
  }
  assert.deepEqual(element("host=a;host=b, host=c"), { host: "c" }, "only the last element counts");
  assert.equal(lastForwardedElement(null), null);
});

Deno.test("checkHost() keeps names, IPv4, bracketed IPv6 and ports, and nothing that leaves the origin", () => {
  for (const host of ["example.com", "a_b.internal:8080", "192.0.2.1:443", "[2001:db8::1]:8443"]) {
    assert.equal(checkHost(host), host);
  }
  for (
    const host of [
      "",
      "evil.example/x",
      "user@evil.example",
      "evil.example:99999",
      "evil.example:",
      "[::1",
      "[not:hex]",
      "a..b",
      "-a.example",
      "evil.example\\x",
      "évil.example",
      "a".repeat(64) + ".example",
    ]
  ) {
    assert.equal(checkHost(host), null, host);
  }
});

Deno.test("forwardedOrigin() takes each field from Forwarded first, then the last X-Forwarded-* item", () => {
  const headers = new Headers({
    "Forwarded": "proto=https",
    "X-Forwarded-Host": "evil.example, public.example",
    "X-Forwarded-Proto": "http",
  });
  assert.deepEqual(forwardedOrigin(headers), { host: "public.example", proto: "https" });
  assert.deepEqual(forwardedOrigin(new Headers()), { host: null, proto: null });
  assert.deepEqual(
    forwardedOrigin(new Headers({ "X-Forwarded-Proto": "HTTPS", "X-Forwarded-Host": "x/y" })),
    { host: null, proto: "https" },
  );
});
