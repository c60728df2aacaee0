/** The throughput chart's axis: a reader can tell where a range starts and ends. */
import assert from "node:assert/strict";
import { throughputChart } from "../../src/dashboard/_chart.ts";

const at = Date.parse("2025-03-02T05:00:00Z");

Deno.test("a day's chart names the dates at both ends (they share the hour), an hour's only the time", async () => {
  const day = String(
    await throughputChart("Jobs per hour", [{ at, completed: 2, failed: 1 }], {
      since: at - 86_400_000,
      until: at,
      step: 3_600_000,
    }),
  );
  assert.match(day, />Mar 1, 05:00 UTC<\/text>/);
  assert.match(day, />Mar 2, 05:00 UTC<\/text>/);
  assert.match(day, /<title>Mar 2, 05:00 UTC: 2 completed, 1 failed<\/title>/);
  const hour = String(
    await throughputChart("Jobs per minute", [], {
      since: at - 3_600_000,
      until: at,
      step: 60_000,
    }),
  );
  assert.match(hour, />04:00 UTC<\/text>/);
  assert.match(hour, />05:00 UTC<\/text>/);
});
