/** `Location` behind a reverse proxy: forwarded headers only when trusted, `baseUrl` over all. */
import assert from "node:assert/strict";
import { MemoryStore, uploads } from "../../src/upload/mod.ts";
import { create, raw, setup } from "./_router.ts";

Deno.test("a forged X-Forwarded-Host or Forwarded is ignored by default", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "Forwarded": "host=evil.example;proto=https",
  });
  assert.ok(location.startsWith(`${server.endpoint}/`), location);
});

Deno.test("respectForwardedHeaders builds Location from X-Forwarded-Host and -Proto", async () => {
  await using server = await setup({ respectForwardedHeaders: true });
  const location = await create(server.endpoint, {
    "X-Forwarded-Host": "uploads.example.com",
    "X-Forwarded-Proto": "https",
  });
  assert.match(location, /^https:\/\/uploads\.example\.com\/files\/[A-Za-z0-9_-]+$/);
});

Deno.test("respectForwardedHeaders reads RFC 7239 Forwarded, quoted, and prefers it over X-Forwarded-*", async () => {
  await using server = await setup({ respectForwardedHeaders: true });
  const location = await create(server.endpoint, {
    "Forwarded": 'for=192.0.2.60;proto=HTTPS;by=203.0.113.43;host="uploads.example.com:8443"',
    "X-Forwarded-Host": "other.example",
  });
  assert.match(location, /^https:\/\/uploads\.example\.com:8443\/files\/[A-Za-z0-9_-]+$/);
});

Deno.test("with several Forwarded elements the one the nearest proxy appended wins", async () => {
  await using server = await setup({ respectForwardedHeaders: true });
  // The client forged the first element; the proxy in front of us appended the second.
  const location = await create(server.endpoint, {
    "Forwarded":
      'host=evil.example;proto=http, for="[2001:db8::1]";host=uploads.example.com;proto=https',
  });
  assert.match(location, /^https:\/\/uploads\.example\.com\/files\//);
  const listed = await create(server.endpoint, {
    "X-Forwarded-Host": "evil.example, uploads.example.com",
    "X-Forwarded-Proto": "http, https",
  });
  assert.match(listed, /^https:\/\/uploads\.example\.com\/files\//);
});

Deno.test("malicious forwarded hosts never reach Location: paths, userinfo, quotes and bad protocols fall back", async () => {
  await using server = await setup({ respectForwardedHeaders: true });
  const hostile: Record<string, string>[] = [
    { "X-Forwarded-Host": "evil.example/phish" },
    { "X-Forwarded-Host": "user:pass@evil.example" },
    { "X-Forwarded-Host": "evil.example?x=" },
    { "X-Forwarded-Host": "evil.example#" },
    { "X-Forwarded-Host": "evil.example\\@good" },
    { "X-Forwarded-Host": "" },
    { "X-Forwarded-Host": "evil.example:99999" },
    { "Forwarded": 'host="evil.example/phish"' },
    { "Forwarded": 'host="evil.example\\"; proto=javascript"' },
    { "Forwarded": 'host="unterminated' },
    { "Forwarded": "host=evil.example%2Fphish" },
    { "Forwarded": "host=a;host=b" },
    { "Forwarded": 'proto="javascript"' },
    { "X-Forwarded-Proto": "javascript" },
    { "X-Forwarded-Proto": "file" },
  ];
  for (const headers of hostile) {
    const location = await create(server.endpoint, headers);
    assert.ok(
      location.startsWith(`${server.endpoint}/`),
      `${JSON.stringify(headers)} gave ${location}`,
    );
    assert.match(location.slice(server.endpoint.length), /^\/[A-Za-z0-9_-]+$/);
  }
});

Deno.test("CR and LF in forwarded headers never inject a response header", async () => {
  await using server = await setup({ respectForwardedHeaders: true });
  const host = `Host: ${new URL(server.origin).host}`;
  // The CRLF ends the header: what follows is a second request header, not part of the host.
  const split = await raw(server.origin, [
    "POST /files HTTP/1.1",
    host,
    "Tus-Resumable: 1.0.0",
    "Upload-Length: 3",
    "X-Forwarded-Host: good.example\r\nSet-Cookie: a=b",
  ]);
  assert.equal(split.status, 201);
  assert.doesNotMatch(split.head, /set-cookie/i);
  assert.match(split.head, /\r\nlocation: http:\/\/good\.example\/files\/[A-Za-z0-9_-]+(\r\n|$)/i);
  // A bare CR inside a value is refused by the HTTP layer or ignored by the parser; never echoed.
  const bare = await raw(server.origin, [
    "POST /files HTTP/1.1",
    host,
    "Tus-Resumable: 1.0.0",
    "Upload-Length: 3",
    'Forwarded: host="evil.example\rX-Injected: y"',
  ]);
  assert.doesNotMatch(bare.head, /evil\.example|x-injected/i);
});

Deno.test("baseUrl wins over Host and forwarded headers", async () => {
  await using server = await setup({ baseUrl: "https://uploads.example.com/api/files/" });
  const location = await create(server.endpoint, {
    "X-Forwarded-Host": "evil.example",
    "Forwarded": "host=evil.example;proto=http",
  });
  assert.match(location, /^https:\/\/uploads\.example\.com\/api\/files\/[A-Za-z0-9_-]+$/);
  // A forged Host header (fetch() always sends the real one) changes nothing either.
  const forged = await raw(server.origin, [
    "POST /files HTTP/1.1",
    "Host: evil.example",
    "Tus-Resumable: 1.0.0",
    "Upload-Length: 3",
  ]);
  assert.equal(forged.status, 201);
  assert.match(
    forged.head,
    /\r\nlocation: https:\/\/uploads\.example\.com\/api\/files\/[A-Za-z0-9_-]+(\r\n|$)/i,
  );
  assert.doesNotMatch(forged.head, /evil\.example/);
});

Deno.test("uploads() refuses a baseUrl that is not an absolute http(s) URL without query or credentials", () => {
  const store = new MemoryStore();
  for (
    const baseUrl of [
      "/files",
      "ftp://example.com/files",
      "javascript:alert(1)",
      "https://user:pw@example.com/files",
      "https://example.com/files?x=1",
      "https://example.com/files#x",
      "not a url",
      42,
    ]
  ) {
    assert.throws(
      () => uploads({ store, maxSize: 10, baseUrl: baseUrl as string }),
      TypeError,
      String(baseUrl),
    );
  }
  assert.throws(
    () => uploads({ store, maxSize: 10, respectForwardedHeaders: "yes" as unknown as boolean }),
    TypeError,
  );
  assert.throws(
    () =>
      uploads({
        store,
        maxSize: 10,
        baseUrl: "https://example.com/files",
        respectForwardedHeaders: true,
      }),
    TypeError,
  );
});
