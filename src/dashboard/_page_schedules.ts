/**
 * The schedules page: each task with its schedule, next run, last result and
 * recent history, and run now, pause and resume where the scheduler has them.
 *
 * @module
 */
import { html } from "hono/html";
import { actionButton, badge, duration, type Html, missing, when } from "./_layout.ts";
import { readSchedules, type ScheduleView } from "./_schedules.ts";
import type { DashboardScheduler } from "./sources.ts";

/** The schedules page's body. */
export async function schedulesPage(scheduler: DashboardScheduler, base: string): Promise<Html> {
  const tasks = await readSchedules(scheduler);
  if (tasks.length === 0) {
    return html`<section class="card">${missing("No task is scheduled.")}</section>`;
  }
  const control = scheduler.run !== undefined;
  return html`<section class="card" data-live><table><thead><tr><th>Task</th><th>Schedule</th>
<th>Next run</th><th>Last run</th><th class="hide-narrow">Took</th><th></th></tr></thead><tbody>${
    tasks.map((task) => row(task, base, scheduler))
  }</tbody></table>${
    control ? "" : missing("Run now, pause and resume need scheduler.run(), pause() and resume().")
  }</section>
${tasks.map((task) => history(task))}`;
}

function row(task: ScheduleView, base: string, scheduler: DashboardScheduler): Html {
  const api = `${base}/api/schedules/${encodeURIComponent(task.name)}`;
  return html`
    <tr data-task="${task.name}">
      <td><strong>${task.name}</strong>${task.paused
        ? html`
          ${badge("paused")}
        `
        : ""}${task.description ? html`<div class="note">${task.description}</div>` : ""}</td>
      <td>${task.schedule}<div class="note"><code>${task.expression}</code> ${task
        .timezone}</div></td>
      <td>${when(task.nextRun)}</td>
      <td>${task.lastRun
        ? html`${badge(task.lastRun.status)} ${when(task.lastRun.finishedAt)}${
          task.lastRun.error ? html`<div class="note">${task.lastRun.error}</div>` : ""
        }`
        : "never"}</td>
      <td class="hide-narrow">${duration(task.lastRun?.duration)}</td>
      <td>
        <div class="actions">${scheduler.run
          ? actionButton("Run now", `${api}/run`, { confirm: `Run ${task.name} now?` })
          : ""}${task.paused
          ? (scheduler.resume ? actionButton("Resume", `${api}/resume`) : "")
          : (scheduler.pause
            ? actionButton("Pause", `${api}/pause`, { confirm: `Pause ${task.name}?` })
            : "")}</div>
      </td>
    </tr>
  `;
}

function history(task: ScheduleView): Html {
  return html`
    <section class="card">
      <details><summary><strong>${task.name}</strong>: last ${task.history
        .length} runs</summary>${task.history.length === 0 ? missing("No run yet.") : html`
        <table>
          <thead>
            <tr>
              <th>Occurrence</th>
              <th>Status</th>
              <th>Took</th>
              <th>Attempts</th>
              <th>Error</th>
              <th class="hide-narrow">Instance</th>
            </tr>
          </thead>
          <tbody>${task.history.map((run) =>
            html`
              <tr>
                <td>${when(run.scheduledAt)}</td>
                <td>${badge(run.status)}</td>
                <td>${duration(run.duration)}</td>
                <td>${run.attempts}</td>
                <td>${run.error ?? ""}</td>
                <td class="hide-narrow"><code>${run.instance}</code></td>
              </tr>
            `
          )}</tbody>
        </table>
      `}</details>
    </section>
  `;
}
