/**
 * The overview page: throughput charts, counts per state per queue (updated
 * live), pause and resume, and the live workers.
 *
 * @module
 */
import { html } from "hono/html";
import { throughputChart, type ThroughputPoint } from "./_chart.ts";
import { actionButton, type Html, json, missing } from "./_layout.ts";
import { readOverview, throughputOf } from "./_overview.ts";
import type { DashboardParts } from "./_state.ts";

const HOUR = 3_600_000;
const STATES = ["ready", "delayed", "active", "completed", "failed"] as const;

/** The overview's body. */
export async function overviewPage(parts: DashboardParts, base: string): Promise<Html> {
  const overview = await readOverview(parts);
  const now = overview.at;
  const [hour, day] = await Promise.all([
    throughput(parts, now - HOUR, "minute"),
    throughput(parts, now - 24 * HOUR, "hour"),
  ]);
  const done = overview.totals.completed ?? 0;
  const failed = overview.totals.failed ?? 0;
  const rate = done + failed === 0 ? "—" : `${((failed / (done + failed)) * 100).toFixed(1)} %`;
  return html`
    <div class="grid" data-live>
      <section class="card">
        <h2>Waiting</h2>
        <div class="stat" data-total="ready">${overview.totals.ready ?? 0}</div>
      </section>
      <section class="card">
        <h2>Active</h2>
        <div class="stat" data-total="active">${overview.totals.active ?? 0}</div>
      </section>
      <section class="card">
        <h2>Failed / completed</h2>
        <div class="stat">${failed} / ${done}</div>
        <div class="note">failure rate ${rate} (failed store against completions counted)</div>
      </section>
      <section class="card"><h2>Workers</h2><div class="stat">${overview.workers === null
        ? "—"
        : overview.workers.length}</div>${overview.workers === null
        ? missing("Listing workers needs queue.workers().")
        : ""}</section>
    </div>
    <section class="card"><h2>Throughput</h2>
    <div class="legend"><span class="completed">completed</span><span class="failed">failed</span></div>
    ${chartOrNote("Jobs per minute, last hour", hour)}
    ${chartOrNote("Jobs per hour, last day", day)}
    </section>
    <section class="card"><h2>Queues</h2>${queueTable(
      overview.queues,
      base,
      parts.queue.pause !== undefined,
    )}</section>
    ${overview.workers && overview.workers.length > 0 ? workerList(overview.workers) : ""}
  `;
}

function queueTable(
  queues: Awaited<ReturnType<typeof readOverview>>["queues"],
  base: string,
  canPause: boolean,
): Html {
  if (queues.length === 0) return missing("No queue has had a job yet.");
  return html`
    <table data-live>
      <thead>
        <tr><th>Queue</th>${STATES.map((state) =>
          html`<th class="num">${state === "ready" ? "waiting" : state}</th>`
        )}<th></th></tr>
      </thead>
      <tbody>${queues.map((queue) =>
        html`<tr><td><a href="${base}/jobs?queue=${
          encodeURIComponent(queue.name)
        }">${queue.name}</a>${
          queue.paused
            ? html`
              <span class="badge paused">paused</span>
            `
            : ""
        }</td>${
          STATES.map((state) =>
            html`
              <td
                class="num"><a href="${base}/jobs?queue=${encodeURIComponent(
                  queue.name,
                )}&amp;state=${state === "ready" ? "waiting" : state}" data-count="${queue
                  .name}:${state}">${queue.counts[state]}</a></td>
            `
          )
        }<td>${
          !canPause ? "" : actionButton(
            queue.paused ? "Resume" : "Pause",
            `${base}/api/queues/${encodeURIComponent(queue.name)}/${
              queue.paused ? "resume" : "pause"
            }`,
            { confirm: `${queue.paused ? "Resume" : "Pause"} queue ${queue.name}?` },
          )
        }</td></tr>`
      )}</tbody>
    </table>
  `;
}

function workerList(workers: readonly unknown[]): Html {
  return html`<section class="card"><h2>Live workers</h2>${
    workers.map((worker) => html`<pre>${json(worker)}</pre>`)
  }</section>`;
}

async function throughput(
  parts: DashboardParts,
  since: number,
  resolution: "minute" | "hour",
): Promise<ThroughputPoint[] | string> {
  if (!parts.queue.metrics) return "Charts need queue.metrics(), which this queue does not have.";
  const answer = await parts.queue.metrics({ since, until: parts.clock.now(), resolution });
  return throughputOf(answer) ?? "queue.metrics() answered in a shape this dashboard cannot chart.";
}

function chartOrNote(title: string, series: ThroughputPoint[] | string): Html {
  if (typeof series === "string") return missing(series);
  return html`<h3 class="note">${title}</h3>${throughputChart(title, series)}`;
}
