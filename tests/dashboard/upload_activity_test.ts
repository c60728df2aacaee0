/**
 * `UploadActivity` stays bounded whatever clients send: at most `limit`
 * uploads, none idle for longer than `idle`, and a finished upload stays
 * finished when late progress arrives.
 */
import assert from "node:assert/strict";
import { UploadActivity } from "../../src/dashboard/mod.ts";
import { ManualClock } from "../support/manual_clock.ts";

Deno.test("UploadActivity keeps the newest uploads up to its limit, newest first", () => {
  const activity = new UploadActivity({ limit: 3, clock: new ManualClock() });
  for (let n = 0; n < 1_000; n++) activity.onProgress({ id: `u${n}`, offset: n, length: 2_000 });
  assert.deepEqual(activity.list().map((u) => u.id), ["u999", "u998", "u997"]);
  activity.onProgress({ id: "u997", offset: 1_500, length: 2_000 });
  assert.deepEqual(
    activity.list().map((u) => u.id),
    ["u997", "u999", "u998"],
    "activity moves it up",
  );
});

Deno.test("UploadActivity forgets uploads idle for longer than idle", () => {
  const clock = new ManualClock();
  const activity = new UploadActivity({ idle: 60_000, clock });
  activity.onProgress({ id: "old", offset: 1, length: 10 });
  clock.advance(30_000);
  activity.onProgress({ id: "new", offset: 1, length: 10 });
  clock.advance(30_001);
  assert.deepEqual(activity.list().map((u) => u.id), ["new"]);
});

Deno.test("UploadActivity keeps a finished upload finished, and refuses bad bounds", () => {
  const activity = new UploadActivity({ clock: new ManualClock() });
  activity.onComplete({ id: "done", offset: 10, length: 10, metadata: {}, type: "image/png" });
  activity.onProgress({ id: "done", offset: 4, length: 10 }); // a late report from an earlier request
  assert.deepEqual(activity.list().map((u) => [u.id, u.offset, u.complete]), [["done", 10, true]]);
  assert.throws(() => new UploadActivity({ limit: 0 }), RangeError);
  assert.throws(() => new UploadActivity({ limit: 1.5 }), RangeError);
  assert.throws(() => new UploadActivity({ idle: -1 }), RangeError);
  assert.throws(() => new UploadActivity({ idle: NaN }), RangeError);
});
