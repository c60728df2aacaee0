/**
 * The schedules page: each task with its schedule in words, next run, last
 * result and recent history, with run now, pause and resume.
 *
 * @module
 */
import { html } from "hono/html";
import type { TaskStatus } from "../scheduler/mod.ts";
import { actionButton, badge, duration, type Html, missing, when } from "./_layout.ts";
import type { DashboardScheduler } from "./sources.ts";

/** Runs of history shown per task. */
export const HISTORY = 10;

/** The schedules page's body. */
export async function schedulesPage(scheduler: DashboardScheduler, base: string): Promise<Html> {
  const tasks = await scheduler.tasks({ history: HISTORY });
  if (tasks.length === 0) {
    return html`<section class="card">${missing("No task is scheduled.")}</section>`;
  }
  return html`
    <section class="card">
      <table>
        <thead>
          <tr>
            <th>Task</th>
            <th>Schedule</th>
            <th>Next run</th>
            <th>Last run</th>
            <th class="hide-narrow">Took</th>
            <th></th>
          </tr>
        </thead>
        <tbody>${tasks.map((task) => row(task, base))}</tbody>
      </table>
    </section>
    ${tasks.map(history)}
  `;
}

function row(task: TaskStatus, base: string): Html {
  const api = `${base}/api/schedules/${encodeURIComponent(task.name)}`;
  return html`
    <tr data-task="${task.name}">
      <td><strong>${task.name}</strong>${task.paused
        ? html`
          ${badge("paused")}
        `
        : ""}${task.description ? html`<div class="note">${task.description}</div>` : ""}</td>
      <td>${task.schedule}<div class="note"><code>${task.expression}</code></div></td>
      <td>${task.paused ? "paused" : when(task.nextRunAt?.getTime())}</td>
      <td>${task.lastRun
        ? html`${badge(task.lastRun.status)} ${when(task.lastRun.finishedAt)}${
          task.lastRun.error ? html`<div class="note">${task.lastRun.error}</div>` : ""
        }`
        : "never"}</td>
      <td class="hide-narrow">${duration(task.lastRun?.duration)}</td>
      <td>
        <div class="actions">${actionButton("Run now", `${api}/run`, {
          confirm: `Run ${task.name} now?`,
        })}${task.paused
          ? actionButton("Resume", `${api}/resume`, { confirm: `Resume ${task.name}?` })
          : actionButton("Pause", `${api}/pause`, { confirm: `Pause ${task.name}?` })}</div>
      </td>
    </tr>
  `;
}

function history(task: TaskStatus): Html {
  return html`
    <section class="card">
      <details><summary><strong>${task.name}</strong>: ${task.history.length === 1
        ? "the last run"
        : `the last ${task.history.length} runs`}</summary>${task.history.length === 0
        ? missing("No run yet.")
        : html`
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
