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

Deno.test("another site's page cannot dispatch the demo's jobs or upload to it; the demo's own page can", async () => {
  const demo = await createDemo();
  try {
    for (const origin of ["https://evil.example", "null", "http://localhost:8001"]) {
      const dispatch = await demo.app.request("http://localhost:8000/api/demo/jobs/failing", {
        method: "POST",
        headers: { Origin: origin, "Content-Type": "application/x-www-form-urlencoded" },
      });
      assert.equal(dispatch.status, 403, origin);
      await dispatch.body?.cancel();
      const upload = await demo.app.request("http://localhost:8000/files", {
        method: "POST",
        headers: { Origin: origin, "Tus-Resumable": "1.0.0", "Upload-Length": "3" },
      });
      assert.equal(upload.status, 403, origin);
      await upload.body?.cancel();
    }
    assert.deepEqual((await (await demo.app.request("/api/demo/jobs")).json()).jobs, []);
    const own = await demo.app.request("http://localhost:8000/api/demo/jobs/failing", {
      method: "POST",
      headers: { Origin: "http://localhost:8000" },
    });
    assert.equal(own.status, 201);
    const { id } = await own.json();
    const jobs = (await (await demo.app.request("/api/demo/jobs")).json()).jobs;
    assert.ok(jobs.some((job: { id: string }) => job.id === id));
  } finally {
    await demo.close();
  }
});
