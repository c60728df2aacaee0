/**
 * The demo's one page, its stylesheet and script, and the tus client it loads.
 *
 * @module
 */
import { html } from "hono/html";

/** What the page tells the visitor about uploads. */
export interface PageOptions {
  /** The largest upload, in bytes. */
  maxUpload: number;
  /** The accepted types. */
  allowedTypes: readonly string[];
}

/** The page. */
export function demoPage(options: PageOptions) {
  const mib = Math.round(options.maxUpload / 1024 / 1024);
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Kiln demo</title>
        <link rel="stylesheet" href="/demo.css">
        <script src="/vendor/tus.min.js" defer></script>
        <script src="/demo.js" defer></script>
      </head>
      <body data-max-upload="${options.maxUpload}">
        <header>
          <div><strong class="brand">Kiln</strong> demo <span class="muted">jobs · schedules · realtime · uploads</span></div>
          <a class="button" href="/kiln/" id="dashboard-link">Open the dashboard →</a>
        </header>
        <main class="grid">
          <section class="card" id="uploads">
            <h2>Uploads <span class="muted">tus 1.0, resumable</span></h2>
            <label class="drop" id="drop">
              <input type="file" id="file">
              <span>Drop a file here or <u>pick one</u></span>
              <small
                class="muted">Images, PDF or ZIP (checked from the bytes, not the name), up to ${mib} MiB.</small>
            </label>
            <div class="progress">
              <div class="bar" id="upload-bar"></div>
            </div>
            <div class="row"><span id="upload-status" class="muted">No upload yet.</span>
    <span class="actions"><button type="button" id="upload-pause" disabled>Pause</button>
    <button type="button" id="upload-resume" disabled>Resume</button></span></div>
            <h3>Finished files</h3>
            <ul id="files" class="list">
              <li class="muted">None yet.</li>
            </ul>
          </section>

          <section class="card" id="jobs">
            <h2>Jobs <span class="muted">queued, retried, seen live</span></h2>
            <div class="actions">
              <button type="button" data-dispatch="slow">Slow job (3 s)</button>
              <button type="button" data-dispatch="flaky">Flaky job (retried)</button>
              <button type="button" data-dispatch="failing">Failing job</button>
              <button type="button" data-dispatch="delayed">Delayed job (5 s)</button>
            </div>
            <table>
              <thead>
                <tr>
                  <th>Job</th>
                  <th>State</th>
                  <th>Progress</th>
                </tr>
              </thead>
              <tbody id="job-list">
                <tr class="empty">
                  <td colspan="3" class="muted">Dispatch a job to see it move.</td>
                </tr>
              </tbody>
            </table>
          </section>

          <section class="card" id="schedules">
            <h2>Schedules <span class="muted">cron, one timer</span></h2>
            <table>
              <thead>
                <tr>
                  <th>Task</th>
                  <th>Next run</th>
                  <th>Last run</th>
                </tr>
              </thead>
              <tbody id="task-list"></tbody>
            </table>
            <p class="muted small">Heartbeats so far: <span id="heartbeats">0</span></p>
          </section>

          <section class="card" id="realtime">
            <h2>Realtime <span class="muted">JWT-authenticated WebSocket</span></h2>
            <form id="sign-in" class="row">
              <input name="name" id="name" placeholder="Your name" maxlength="24" required
                autocomplete="off">
              <button type="submit" class="primary">Sign in</button>
            </form>
            <div id="signed-in" hidden>
              <p>Signed in as <strong id="me"></strong> <span id="socket-state" class="badge">connecting</span></p>
              <h3>In the lobby <span class="muted">presence-lobby</span></h3>
              <ul id="members" class="chips"></ul>
              <h3>Your private channel <span class="muted" id="private-name"></span></h3>
              <div class="row"><button type="button" id="ping">Ping me from the server</button>
    <span id="pings" class="muted">No message yet.</span></div>
              <p
                class="muted small">Open this page in another tab and sign in there: you will see it join and leave.</p>
            </div>
          </section>
        </main>
        <div id="notice" role="status" aria-live="polite"></div>
      </body>
    </html>
  `;
}

/**
 * tus-js-client's browser build, read from the installed npm package (the
 * version deno.json pins) instead of a copy in the repository: one version to
 * update, no vendored bytes to review, and nothing fetched from a CDN.
 */
export const TUS_CLIENT = await Deno.readFile(
  new URL(import.meta.resolve("tus-js-client/dist/tus.min.js")),
);

/** The page's stylesheet. */
export const DEMO_STYLES = await Deno.readTextFile(new URL("./demo.css", import.meta.url));
/** The page's script. */
export const DEMO_SCRIPT = await Deno.readTextFile(new URL("./demo.js", import.meta.url));
