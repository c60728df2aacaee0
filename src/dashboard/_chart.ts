/**
 * Throughput charts as inline SVG: one stacked bar per bucket (completed
 * below, failed above), drawn on the server, so the page needs no chart
 * library and works offline.
 *
 * @module
 */
import { html } from "hono/html";
import type { Html } from "./_layout.ts";

/** One bucket of a throughput series. */
export interface ThroughputPoint {
  /** The bucket's start, epoch milliseconds. */
  at: number;
  /** Jobs completed in it. */
  completed: number;
  /** Jobs failed in it. */
  failed: number;
}

const DAY = 86_400_000;
const WIDTH = 1000;
const HEIGHT = 170;
const LEFT = 34;
const BOTTOM = 18;

/** The time range a chart covers, and its bucket size, all in milliseconds. */
export interface ChartRange {
  /** From. */
  since: number;
  /** To. */
  until: number;
  /** One bucket: 60_000 for minutes, 3_600_000 for hours. */
  step: number;
}

/**
 * A stacked bar chart, one bar per bucket of `range` (buckets without a
 * point are drawn empty, so the time axis is even), labelled `title` for
 * screen readers.
 */
export function throughputChart(
  title: string,
  samples: readonly ThroughputPoint[],
  range: ChartRange,
): Html {
  const byStart = new Map(samples.map((point) => [point.at, point]));
  const points: ThroughputPoint[] = [];
  const end = Math.floor(range.until / range.step) * range.step;
  for (let at = Math.floor(range.since / range.step) * range.step; at <= end; at += range.step) {
    points.push(byStart.get(at) ?? { at, completed: 0, failed: 0 });
  }
  const top = Math.max(1, ...points.map((p) => p.completed + p.failed));
  const plotHeight = HEIGHT - BOTTOM - 6;
  const step = (WIDTH - LEFT) / Math.max(1, points.length);
  const bar = Math.max(1, step * 0.8);
  const y = (value: number) => (value / top) * plotHeight;
  // A day's chart starts and ends at the same hour: its labels need the date to differ.
  const stamp = range.until - range.since >= DAY ? dateAndClock : clock;
  const label = (point: ThroughputPoint) =>
    `${stamp(point.at)}: ${point.completed} completed, ${point.failed} failed`;
  const bars = points.map((point, index) => {
    const x = (LEFT + index * step).toFixed(1);
    const done = y(point.completed);
    const failed = y(point.failed);
    const base = HEIGHT - BOTTOM;
    return html`
      <rect class="completed" x="${x}" y="${(base - done).toFixed(1)}" width="${bar.toFixed(
        1,
      )}" height="${done.toFixed(1)}">
        <title>${label(point)}</title>
      </rect>
      <rect class="failed" x="${x}" y="${(base - done - failed).toFixed(1)}" width="${bar.toFixed(
        1,
      )}" height="${failed.toFixed(1)}">
        <title>${label(point)}</title>
      </rect>
    `;
  });
  const first = points[0]?.at;
  const last = points.at(-1)?.at;
  return html`<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${title}">
<line x1="${LEFT}" y1="${HEIGHT - BOTTOM}" x2="${WIDTH}" y2="${HEIGHT - BOTTOM}"></line>
<line x1="${LEFT}" y1="6" x2="${WIDTH}" y2="6"></line>
<text x="0" y="14">${top}</text><text x="0" y="${HEIGHT - BOTTOM}">0</text>
${bars}
${first === undefined ? "" : html`<text x="${LEFT}" y="${HEIGHT - 3}">${stamp(first)}</text>`}
${
    last === undefined
      ? ""
      : html`<text x="${WIDTH}" y="${HEIGHT - 3}" text-anchor="end">${stamp(last)}</text>`
  }
</svg>`;
}

function clock(at: number): string {
  return new Date(at).toISOString().slice(11, 16) + " UTC";
}

/** `Dec 1, 05:00 UTC`. */
function dateAndClock(at: number): string {
  const day = new Date(at).toLocaleDateString("en-US", {
    month: "short",
    day: "numeric",
    timeZone: "UTC",
  });
  return `${day}, ${clock(at)}`;
}
