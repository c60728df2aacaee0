/**
 * The frame every page shares, and the small formatting helpers the pages
 * use. Everything goes through Hono's `html` template, which escapes each
 * interpolated value; `raw()` is used nowhere.
 *
 * @module
 */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

/** What a page renders to. */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The sections of the navigation. */
export type Section = "overview" | "jobs" | "schedules" | "realtime";

/** What the frame needs to know. */
export interface Frame {
  /** The mount path, such as `/kiln` (empty at the root). */
  base: string;
  /** The page's title. */
  title: string;
  /** The section to highlight. */
  section: Section;
  /** Which optional sections exist. */
  sections: { schedules: boolean; realtime: boolean };
}

/** The whole page around `body`. */
export function page(frame: Frame, body: Html): Html {
  const link = (section: Section, href: string, label: string) =>
    html`
      <a href="${frame.base}${href}" ${frame.section === section
        ? html`
          aria-current="page"
        `
        : ""}>${label}</a>
    `;
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>${frame.title} · Kiln</title>
        <link rel="stylesheet" href="${frame.base}/assets/dashboard.css">
        <script src="${frame.base}/assets/dashboard.js" defer></script>
      </head>
      <body data-base="${frame.base}">
        <header>
          <a class="brand" href="${frame.base}/">Kiln</a>
          <nav>
    ${link("overview", "/", "Overview")}
    ${link("jobs", "/jobs", "Jobs")}
    ${frame.sections.schedules ? link("schedules", "/schedules", "Schedules") : ""}
    ${frame.sections.realtime ? link("realtime", "/realtime", "Realtime & uploads") : ""}
          </nav>
        </header>
        <main>
    <h1>${frame.title}</h1>
    ${body}
        </main>
        <div id="notice" role="status" aria-live="polite"></div>
      </body>
    </html>
  `;
}

/** A time as a `<time>` element (the script shows it in the reader's zone). */
export function when(at: number | null | undefined): Html | string {
  if (at === null || at === undefined || !Number.isFinite(at)) return "—";
  const iso = new Date(at).toISOString();
  return html`<time datetime="${iso}">${iso.replace("T", " ").slice(0, 19)} UTC</time>`;
}

/** A duration in words: `850 ms`, `3.2 s`, `4 min`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** A state as a coloured badge; with a job's id, live updates change it. */
export function badge(state: string, jobId?: string): Html {
  return jobId === undefined
    ? html`<span class="badge ${state}">${state}</span>`
    : html`<span class="badge ${state}" data-state-of="${jobId}">${state}</span>`;
}

/** Any value as indented JSON (escaped by the template like everything else). */
export function json(value: unknown): string {
  if (value === undefined) return "—";
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A button that POSTs to `url` after asking `confirm`. */
export function actionButton(
  label: string,
  url: string,
  options: { confirm?: string; danger?: boolean; then?: string } = {},
): Html {
  return html`
    <button type="button" data-post="${url}" ${options.confirm
      ? html`
        data-confirm="${options.confirm}"
      `
      : ""}${options.then
      ? html`
        data-then="${options.then}"
      `
      : ""}${options.danger
      ? html`
        class="danger"
      `
      : ""}>${label}</button>
  `;
}

/** A note saying what is missing and why. */
export function missing(message: string): Html {
  return html`<p class="note">${message}</p>`;
}
