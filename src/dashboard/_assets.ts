/**
 * The dashboard's stylesheet and script, kept as strings so they are served
 * from memory on every runtime (Workers has no file system) with no build
 * step and no CDN. The page's Content-Security-Policy allows only these two
 * files, so even a payload that escaped escaping could not run a script.
 *
 * @module
 */

/** The stylesheet. */
export const STYLESHEET = `
:root { --bg: #f6f7f9; --card: #fff; --ink: #1c2430; --muted: #667085; --line: #e3e7ee;
  --accent: #c2410c; --ok: #15803d; --bad: #b91c1c; --warn: #b45309; --info: #1d4ed8;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); font-size: 15px; line-height: 1.45; }
header { background: #1c2430; color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap;
  gap: .4rem 1.2rem; align-items: center; }
header .brand { font-weight: 700; letter-spacing: .02em; color: #fdba74; text-decoration: none; }
header nav { display: flex; flex-wrap: wrap; gap: .2rem; }
header nav a { color: #d0d5dd; text-decoration: none; padding: .25rem .6rem; border-radius: 6px; }
header nav a[aria-current="page"], header nav a:hover { background: #344054; color: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.35rem; margin: .4rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 1rem; margin-bottom: 1rem; overflow-x: auto; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); }
.stat { font-size: 1.6rem; font-weight: 650; }
.stat.small { font-size: 1.1rem; padding-top: .35rem; }
.muted, .note { color: var(--muted); }
.note { font-size: .9rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .45rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
a { color: var(--info); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; }
pre { background: #0f172a; color: #e2e8f0; padding: .8rem; border-radius: 8px; overflow-x: auto;
  white-space: pre-wrap; word-break: break-word; max-height: 28rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .78rem;
  font-weight: 600; background: #eef2f6; color: var(--ink); }
.badge.completed, .badge.succeeded { background: #dcfce7; color: var(--ok); }
.badge.failed { background: #fee2e2; color: var(--bad); }
.badge.active { background: #dbeafe; color: var(--info); }
.badge.delayed, .badge.paused, .badge.skipped { background: #fef3c7; color: var(--warn); }
.badge.waiting, .badge.ready { background: #ede9fe; color: #6d28d9; }
form.search { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
form.search label { display: flex; flex-direction: column; font-size: .78rem; color: var(--muted); gap: .15rem; }
input, select, button { font: inherit; padding: .35rem .55rem; border: 1px solid #cfd5df;
  border-radius: 6px; background: #fff; color: var(--ink); }
button { cursor: pointer; background: #fff; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--bad); border-color: #fca5a5; }
button:disabled { opacity: .55; cursor: default; }
.actions { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
.bar { display: flex; flex-wrap: wrap; gap: .5rem; justify-content: space-between; align-items: center; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.fields dt { color: var(--muted); }
dl.fields dd { margin: 0; word-break: break-all; }
#notice { position: fixed; right: 1rem; bottom: 1rem; max-width: 26rem; padding: .6rem .9rem;
  border-radius: 8px; background: #1c2430; color: #fff; display: none; }
#notice.shown { display: block; }
#notice.error { background: var(--bad); }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart .completed { fill: #16a34a; }
svg.chart .failed { fill: #dc2626; }
svg.chart text { font-size: 11px; fill: var(--muted); }
svg.chart line { stroke: var(--line); }
.legend { display: flex; gap: 1rem; font-size: .85rem; color: var(--muted); }
.legend span::before { content: ""; display: inline-block; width: .7rem; height: .7rem;
  border-radius: 2px; margin-right: .3rem; vertical-align: -1px; background: currentColor; }
.legend .completed { color: #16a34a; } .legend .failed { color: #dc2626; }
progress { width: 100%; height: .8rem; }
@media (max-width: 640px) { main { padding: .6rem; } th, td { padding: .35rem; }
  .hide-narrow { display: none; }
  /* The chart's 1000-unit-wide drawing shrinks to the screen, its text with it: enlarge the text. */
  svg.chart { overflow: visible; } svg.chart text { font-size: 30px; } }
`;

/**
 * The script: actions (POST after a confirmation), live counts from
 * `/api/events`, and local times. It writes text only (`textContent`), never HTML.
 */
export const SCRIPT = `
"use strict";
(() => {
  const base = document.body.dataset.base || "";
  const notice = document.getElementById("notice");
  function tell(message, error) {
    notice.textContent = message;
    notice.className = error ? "shown error" : "shown";
    clearTimeout(tell.timer);
    tell.timer = setTimeout(() => { notice.className = ""; }, 4000);
  }
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-post]");
    if (!button) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      const response = await fetch(button.dataset.post, { method: "POST" });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.error || response.statusText);
      tell(typeof answer.count === "number" ? answer.count + " done" : "Done", false);
      if (button.dataset.then) location.href = button.dataset.then;
      else setTimeout(() => location.reload(), 600);
    } catch (error) {
      tell(error.message, true);
      button.disabled = false;
    }
  });
  function localTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      const at = new Date(el.dateTime);
      if (!Number.isNaN(at.getTime())) el.textContent = at.toLocaleString();
    }
  }
  localTimes(document);
  if (!document.querySelector("[data-live]") || !window.EventSource) return;
  const source = new EventSource(base + "/api/events");
  // A job changed state (queue.events()): update its badge wherever it is shown.
  source.addEventListener("job", (event) => {
    const change = JSON.parse(event.data);
    for (const el of document.querySelectorAll("[data-state-of]")) {
      if (el.dataset.stateOf !== change.id) continue;
      el.textContent = change.state;
      el.className = "badge " + change.state;
    }
  });
  source.addEventListener("snapshot", (event) => {
    const snapshot = JSON.parse(event.data);
    for (const queue of snapshot.queues || []) {
      for (const [state, count] of Object.entries(queue.counts)) {
        for (const el of document.querySelectorAll("[data-count]")) {
          if (el.dataset.count === queue.name + ":" + state) el.textContent = String(count);
        }
      }
    }
    for (const el of document.querySelectorAll("[data-total]")) {
      const value = (snapshot.totals || {})[el.dataset.total] ?? snapshot[el.dataset.total];
      if (typeof value === "number") el.textContent = String(value);
    }
  });
})();
`;
