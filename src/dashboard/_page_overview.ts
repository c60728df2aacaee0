/**
 * The overview page: counts (updated live), failure rate, wait and run time
 * percentiles, throughput charts, the queues with pause and resume, and the
 * live workers.
 *
 * @module
 */
import { html } from "hono/html";
import { type ChartRange, throughputChart } from "./_chart.ts";
import { actionButton, duration, type Html, missing, when } from "./_layout.ts";
import type { MetricPoint, WorkerInfo } from "../queue/mod.ts";
import { type Overview, readOverview } from "./_overview.ts";
import type { DashboardParts } from "./_state.ts";

const HOUR = 3_600_000;
const STATES = ["ready", "delayed", "active", "completed", "failed"] as const;

/** The overview's body. */
export async function overviewPage(parts: DashboardParts, base: string): Promise<Html> {
  const overview = await readOverview(parts);
  const [hour, day] = await Promise.all([
    samples(parts, overview.at - HOUR, "minute"),
    samples(parts, overview.at - 24 * HOUR, "hour"),
  ]);
  // The current hour's bucket holds one histogram for the whole hour: exact percentiles.
  const thisHour = day.at(-1);
  return html`
    <div class="grid" data-live>
      <section class="card">
        <h2>Waiting</h2>
        <div class="stat" data-total="ready">${overview.totals.ready ?? 0}</div>
        <div class="note"><span data-total="delayed">${overview.totals.delayed ??
          0}</span> delayed</div>
      </section>
      <section class="card">
        <h2>Active</h2>
        <div class="stat" data-total="active">${overview.totals.active ?? 0}</div>
        <div class="note">${workerCount(overview)}</div>
      </section>
      <section class="card">
        <h2>Failure rate</h2>
        <div class="stat">${failureRate(hour)}</div>
        <div class="note">failed for good, last hour</div>
      </section>
      <section class="card">
        <h2>Wait / run time</h2>
        <div class="stat small">wait ${latency(thisHour, "wait")}</div>
        <div class="stat small">run ${latency(thisHour, "run")}</div>
        <div class="note">p50 / p95, this hour</div>
      </section>
    </div>
    <section class="card"><h2>Throughput</h2>
    <div class="legend"><span class="completed">completed</span><span class="failed">failed</span></div>
    ${chart("Jobs per minute, last hour", hour, {
      since: overview.at - HOUR,
      until: overview.at,
      step: 60_000,
    })}
    ${chart("Jobs per hour, last day", day, {
      since: overview.at - 24 * HOUR,
      until: overview.at,
      step: HOUR,
    })}
    </section>
    <section class="card"><h2>Queues</h2>${queueTable(overview, base)}</section>
    ${workerTable(overview)}
  `;
}

function workerCount(overview: Overview): string {
  return `${overview.workers.length} live worker${overview.workers.length === 1 ? "" : "s"}`;
}

function failureRate(hour: readonly MetricPoint[]): string {
  const [done, failed] = hour.reduce(([d, f], p) => [d + p.completed, f + p.failed], [0, 0]);
  return done + failed === 0 ? "—" : `${((failed / (done + failed)) * 100).toFixed(1)} %`;
}

function latency(sample: MetricPoint | undefined, kind: "wait" | "run"): string {
  const figures = sample?.[kind];
  if (!figures || figures.p50 === null) return "—";
  return `${duration(figures.p50)} / ${duration(figures.p95)}`;
}

function queueTable(overview: Overview, base: string): Html {
  if (overview.queues.length === 0) return missing("No queue has had a job yet.");
  return html`
    <table>
      <thead>
        <tr><th>Queue</th>${STATES.map((state) =>
          html`<th class="num">${state === "ready" ? "waiting" : state}</th>`
        )}<th></th></tr>
      </thead>
      <tbody>${overview.queues.map((queue) => {
        const name = encodeURIComponent(queue.name);
        return html`<tr><td><a href="${base}/jobs?queue=${name}">${queue.name}</a>${
          queue.paused
            ? html`
              <span class="badge paused">paused</span>
            `
            : ""
        }</td>${
          STATES.map((state) =>
            html`
              <td
                class="num"><a href="${base}/jobs?queue=${name}&amp;state=${state === "ready"
                  ? "waiting"
                  : state}" data-count="${queue.name}:${state}">${queue.counts[state]}</a></td>
            `
          )
        }<td>${
          actionButton(
            queue.paused ? "Resume" : "Pause",
            `${base}/api/queues/${name}/${queue.paused ? "resume" : "pause"}`,
            { confirm: `${queue.paused ? "Resume" : "Pause"} queue ${queue.name}?` },
          )
        }</td></tr>`;
      })}</tbody>
    </table>
  `;
}

function workerTable(overview: Overview): Html | string {
  if (overview.workers.length === 0) return "";
  const workers: readonly WorkerInfo[] = overview.workers;
  return html`
    <section class="card">
      <h2>Live workers</h2>
      <table>
        <thead>
          <tr>
            <th>Worker</th>
            <th class="hide-narrow">Host</th>
            <th>Queues</th>
            <th class="num">Busy</th>
            <th class="hide-narrow">Started</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>${workers.map((worker) =>
          html`
            <tr>
              <td><code>${worker.id}</code><div class="note">${worker.runtime}</div></td>
              <td class="hide-narrow">${worker.host}</td>
              <td>${worker.queues.join(", ")}</td>
              <td class="num">${worker.active.length} / ${worker.concurrency}</td>
              <td class="hide-narrow">${when(worker.startedAt)}</td>
              <td>${when(worker.lastSeen)}</td>
            </tr>
          `
        )}</tbody>
      </table>
    </section>
  `;
}

function samples(
  parts: DashboardParts,
  since: number,
  resolution: "minute" | "hour",
): Promise<readonly MetricPoint[]> {
  return parts.queue.metrics({ since, until: parts.clock.now(), resolution });
}

function chart(title: string, series: readonly MetricPoint[], range: ChartRange): Html {
  return html`<h3 class="note">${title}</h3>${throughputChart(title, series, range)}`;
}
