/**
 * The jobs pages: a search form with its results (newest first, paged, with
 * bulk retry and remove of what it matches), and one job with everything
 * kept about it and its actions.
 *
 * @module
 */
import { html } from "hono/html";
import { actionButton, badge, duration, type Html, json, missing, when } from "./_layout.ts";

import { SEARCH_STATES, searchParamsOf } from "./_query.ts";
import type { DashboardParts } from "./_state.ts";
import type { JobInfo, JobQuery } from "../queue/mod.ts";

/** The search page's body. */
export async function jobsPage(
  parts: DashboardParts,
  base: string,
  query: JobQuery,
): Promise<Html> {
  const queues = await parts.queue.queues();
  const page = await parts.queue.jobs(query);
  const results = jobTable(page.jobs, base, query, page.cursor);
  const filtered = searchParamsOf(query).toString();
  return html`<section class="card">${searchForm(queues.map((q) => q.name), query, base)}</section>
<section class="card" data-live><div class="bar">
<h2>Results</h2>
<div class="actions">${
    filtered === "" ? "" : [
      actionButton("Retry all matching", `${base}/api/jobs/retry-all?${filtered}`, {
        confirm: "Retry every job this search matches?",
      }),
      actionButton("Remove all matching", `${base}/api/jobs/remove-all?${filtered}`, {
        confirm: "Remove every job this search matches? This cannot be undone.",
        danger: true,
      }),
    ]
  }</div></div>${results}</section>`;
}

function searchForm(queues: string[], query: JobQuery, base: string): Html {
  const text = (name: "name" | "tag" | "id", label: string) =>
    html`<label>${label}<input name="${name}" value="${query[name] ?? ""}" size="14"></label>`;
  const local = (at: number | undefined) =>
    at === undefined ? "" : new Date(at).toISOString().slice(0, 16);
  return html`<form class="search" method="get" action="${base}/jobs">
<label>Queue<select name="queue"><option value="">all</option>${
    queues.map((name) =>
      html`
        <option value="${name}" ${name === query.queue
          ? html`
            selected
          `
          : ""}>${name}</option>
      `
    )
  }</select></label>
<label>State<select name="state"><option value="">any</option>${
    SEARCH_STATES.map((state) =>
      html`
        <option value="${state}" ${state === query.state
          ? html`
            selected
          `
          : ""}>${state}</option>
      `
    )
  }</select></label>
${text("id", "Id")}${text("name", "Job name")}${text("tag", "Tag")}
<label>Since (UTC)<input type="datetime-local" name="since" value="${local(query.since)}"></label>
<label>Until (UTC)<input type="datetime-local" name="until" value="${local(query.until)}"></label>
<button class="primary" type="submit">Search</button>
</form>`;
}

function jobTable(
  jobs: readonly JobInfo[],
  base: string,
  query: JobQuery,
  cursor: string | null,
): Html {
  if (jobs.length === 0) return missing("No job matches this search.");
  const next = new URLSearchParams(searchParamsOf(query));
  if (cursor !== null) next.set("cursor", cursor);
  return html`
    <table>
      <thead>
        <tr>
          <th>Job</th>
          <th>Name</th>
          <th>Queue</th>
          <th>State</th>
          <th class="hide-narrow">Tags</th>
          <th class="num hide-narrow">Attempts</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>${jobs.map((job) =>
        html`
          <tr data-job="${job.id}">
            <td><a href="${base}/jobs/${encodeURIComponent(job.id)}?queue=${encodeURIComponent(
              job.queue,
            )}"><code>${job.id}</code></a></td>
            <td>${job.name}</td>
            <td>${job.queue}</td>
            <td>${badge(job.state, job.id)}</td>
            <td class="hide-narrow">${job.tags.join(", ")}</td>
            <td class="num hide-narrow">${job.attempts}</td>
            <td>${when(job.createdAt)}</td>
          </tr>
        `
      )}</tbody>
    </table>${cursor === null
      ? ""
      : html`<p><a href="${base}/jobs?${next.toString()}">Next page →</a></p>`}
  `;
}

/** The job page's body. */
export function jobPage(job: JobInfo, base: string): Html {
  const state = job.state;
  const api = `${base}/api/jobs/${encodeURIComponent(job.id)}`;
  const inQueue = `?queue=${encodeURIComponent(job.queue)}`;
  const back = `${base}/jobs?queue=${encodeURIComponent(job.queue)}`;
  return html`
    <section class="card" data-live>
      <div class="actions">${badge(state, job.id)}
    ${state === "failed"
      ? actionButton("Retry", `${api}/retry${inQueue}`, { confirm: `Retry job ${job.id}?` })
      : ""}
    ${state === "delayed"
      ? actionButton("Promote", `${api}/promote${inQueue}`, { confirm: `Run job ${job.id} now?` })
      : ""}
    ${state === "active"
      ? actionButton("Cancel", `${api}/cancel${inQueue}`, {
        confirm: `Cancel job ${job.id}?`,
        danger: true,
      })
      : ""}
    ${actionButton("Remove", `${api}/remove${inQueue}`, {
      confirm: `Remove job ${job.id}?`,
      danger: true,
      then: back,
    })}
      </div>
    </section>
    <section class="card">
      <h2>Job</h2>
      <dl class="fields">
        <dt>Id</dt>
        <dd><code>${job.id}</code></dd>
        <dt>Name</dt>
        <dd>${job.name}</dd>
        <dt>Queue</dt>
        <dd><a href="${back}">${job.queue}</a></dd>
        <dt>Priority</dt>
        <dd>${job.priority}</dd>
        ${job.uniqueKey === undefined ? "" : html`
          <dt>Unique key</dt>
          <dd><code>${job.uniqueKey}</code>${job.dedupeFor
            ? ` (kept ${duration(job.dedupeFor)} after it ends)`
            : ""}</dd>
        `}
        <dt>Attempts</dt>
        <dd>${job.attempts} (retries allowed: ${job.maxRetries}, stalls: ${job.stalls})</dd>
        <dt>Progress</dt>
        <dd>${job.progress ?? "—"}</dd>
        <dt>Tags</dt>
        <dd>${job.tags.join(", ") || "—"}</dd>
        <dt>Worker</dt>
        <dd>${job.workerId ?? "—"}</dd>
        <dt>Created</dt>
        <dd>${when(job.createdAt)}</dd>
        <dt>Due</dt>
        <dd>${when(job.runAt)}</dd>
        <dt>Started</dt>
        <dd>${when(job.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>${when(job.finishedAt)}</dd>
        <dt>Ran for</dt>
        <dd>${job.startedAt && job.finishedAt ? duration(job.finishedAt - job.startedAt) : "—"}</dd>
      </dl>
    </section>
    <section class="card">
      <h2>Payload</h2>
      <pre>${json(job.payload)}</pre>
    </section>
    ${state === "completed" || (job.result ?? null) !== null
      ? html`
        <section class="card">
          <h2>Result</h2>
          <pre>${json(job.result)}</pre>
        </section>
      `
      : ""}
    <section class="card"><h2>Errors</h2>${job.errors.length === 0
      ? missing("No attempt has failed.")
      : job.errors.map((error) =>
        html`<h3 class="note">Attempt ${error.attempt}, ${
          when(error.at)
        }: ${error.name}: ${error.message}</h3>${
          error.stack ? html`<pre>${error.stack}</pre>` : ""
        }`
      )}</section>
    <section class="card"><h2>Logs</h2>${job.logs.length === 0
      ? missing("The handler logged nothing.")
      : html`<pre>${job.logs.join("\n")}</pre>`}</section>
  `;
}
