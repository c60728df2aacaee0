/**
 * The demo's own job feed (`examples/demo`), which its page follows as
 * Server-Sent Events: bounded like the dashboard's live views.
 */
import assert from "node:assert/strict";
import { createDemo } from "../../examples/demo/app.ts";

Deno.test("the demo's job feed holds no stream for HEAD, caps open pages at 50, and frees a page's slot when it leaves", async () => {
  const demo = await createDemo();
  const events = "http://localhost/api/demo/jobs/events";
  const open: Response[] = [];
  try {
    for (let n = 0; n < 51; n++) {
      const head = await demo.app.request(events, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.body, null);
    }
    for (let n = 0; n < 50; n++) {
      const response = await demo.app.request(events);
      assert.equal(response.status, 200, `page ${n + 1} follows`);
      open.push(response);
    }
    const refused = await demo.app.request(events);
    assert.equal(refused.status, 503);
    await refused.body?.cancel();
    await open.shift()!.body!.cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await demo.app.request(events);
    assert.equal(again.status, 200, "the slot a page left is free again");
    open.push(again);
  } finally {
    await Promise.all(open.map((response) => response.body?.cancel()));
    await demo.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});
