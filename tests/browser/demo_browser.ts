/**
 * The demo and the dashboard in a real browser: Debian's Chromium driven by
 * playwright-core. Run with `deno task test:browser`; screenshots go to
 * `.tmp/screenshots/` (and, with `KILN_DOCS_SCREENSHOTS=1`, to `docs/images/`
 * for the README).
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { createDemo, type Demo, type DemoOptions } from "../../examples/demo/app.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { outsideAddress } from "../dashboard/_outside_address.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const ROOT = new URL("../../", import.meta.url);
const SHOTS = new URL(".tmp/screenshots/", ROOT);
const DOC_SHOTS = Deno.env.get("KILN_DOCS_SCREENSHOTS") === "1";

/** A demo served on every interface (so a non-loopback peer can knock), and a browser. */
async function start(options: DemoOptions = {}) {
  const demo: Demo = await createDemo(options);
  const server = Deno.serve({ hostname: "0.0.0.0", port: 0, onListen() {} }, demo.app.fetch);
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  return {
    demo,
    port: server.addr.port,
    base: `http://127.0.0.1:${server.addr.port}`,
    browser,
    async close() {
      await browser.close();
      await demo.close();
      await server.shutdown();
    },
  };
}

async function screenshot(page: Page, name: string, docs = false): Promise<void> {
  await Deno.mkdir(SHOTS, { recursive: true });
  const bytes = await page.screenshot({ fullPage: true });
  await Deno.writeFile(new URL(name, SHOTS), bytes);
  if (docs && DOC_SHOTS) await Deno.writeFile(new URL(`docs/images/${name}`, ROOT), bytes);
}

/** A real PNG (a screenshot) with random bytes after its end, about 2 MiB: eight tus chunks. */
async function uploadFile(page: Page): Promise<{ path: string; bytes: Uint8Array }> {
  const png = await page.screenshot();
  const tail = new Uint8Array(2 * 1024 * 1024 - png.length);
  for (let at = 0; at < tail.length; at += 65_536) {
    crypto.getRandomValues(tail.subarray(at, at + 65_536));
  }
  const bytes = new Uint8Array([...png, ...tail]);
  const path = await Deno.makeTempFile({ suffix: ".png" });
  await Deno.writeFile(path, bytes);
  return { path, bytes };
}

async function signIn(page: Page, name: string): Promise<void> {
  await page.fill("#name", name);
  await page.click("#sign-in button");
  await page.waitForSelector("#socket-state.open");
}

Deno.test({
  name: "the demo in Chromium: upload, jobs, dashboard retry and search, presence, local-only",
  // playwright-core keeps pipes and timers of its own until the browser process is gone.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const app = await start();
    try {
      const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.on("dialog", (dialog) => dialog.accept());
      await page.goto(`${app.base}/`);

      await t.step("a file of a refused type is refused, and the page says why", async () => {
        const path = await Deno.makeTempFile({ suffix: ".txt" });
        await Deno.writeTextFile(path, "just some text, not an image");
        await page.setInputFiles("#file", path);
        await page.waitForSelector("#upload-status:has-text('Refused')");
        assert.match(
          await page.textContent("#upload-status") ?? "",
          /allowed: image\/\*, application\/pdf/,
        );
        await Deno.remove(path);
      });

      await t.step(
        "a file upload pauses, resumes, survives a page reload, reaches 100% and the stored bytes match",
        async () => {
          const { path, bytes } = await uploadFile(page);
          // Slow every chunk down so the reload lands mid-upload.
          await context.route("**/files/*", async (route) => {
            if (route.request().method() === "PATCH") await new Promise((r) => setTimeout(r, 250));
            await route.continue();
          });
          await page.setInputFiles("#file", path);
          const percent = async () =>
            Number((await page.textContent("#upload-status"))?.match(/^(\d+)%/)?.[1] ?? NaN);
          await page.waitForFunction(() =>
            /^([1-9]\d)%/.test(document.querySelector("#upload-status")!.textContent!)
          );
          // Pause holds the upload where it is; resume goes on from there.
          await page.click("#upload-pause");
          await page.waitForSelector("#upload-status:has-text('paused')");
          const paused = await percent();
          await new Promise((resolve) => setTimeout(resolve, 800));
          assert.equal(await percent(), paused, "no bytes while paused");
          await page.click("#upload-resume");
          await page.waitForFunction(
            (at) =>
              Number(document.querySelector("#upload-status")!.textContent!.match(/^(\d+)%/)?.[1]) >
                at,
            paused,
          );
          const beforeReload = await percent();
          assert.ok(beforeReload < 100, "still under way when the page reloads");
          await page.reload();
          await page.setInputFiles("#file", path);
          await page.waitForSelector("#notice:has-text('Resuming the upload you started before')");
          await page.waitForSelector("#upload-status:has-text('100%')", { timeout: 20_000 });
          await context.unroute("**/files/*");
          const href = await page.getAttribute("#files a", "href");
          const stored = new Uint8Array(await (await fetch(`${app.base}${href}`)).arrayBuffer());
          assert.equal(stored.length, bytes.length);
          assert.ok(
            stored.every((byte, i) => byte === bytes[i]),
            "the stored bytes are the file's",
          );
          const { files } = await (await fetch(`${app.base}/api/demo/files`)).json();
          assert.equal(files.length, 1, "resumed, not uploaded twice");
          await Deno.remove(path);
        },
      );

      let failedId = "";
      await t.step(
        "a dispatched job shows as completed and a failing one as failed, live",
        async () => {
          await page.click("[data-dispatch='slow']");
          await page.click("[data-dispatch='failing']");
          await page.waitForSelector("tr[data-name='resize-image'][data-state='active']");
          await page.waitForSelector("tr[data-name='resize-image'][data-state='completed']", {
            timeout: 15_000,
          });
          await page.waitForSelector("tr[data-name='send-report'][data-state='failed']", {
            timeout: 15_000,
          });
          failedId = (await page.getAttribute("tr[data-name='send-report']", "data-job"))!;
        },
      );

      const dash = await context.newPage();
      dash.on("dialog", (dialog) => dialog.accept());
      await t.step(
        "the failing job is in the dashboard's failed list, and retry from its page runs it again",
        async () => {
          await dash.goto(`${app.base}/kiln/jobs?state=failed`);
          await dash.click(`tr[data-job='${failedId}'] a`);
          await dash.waitForSelector("h1:has-text('Job')");
          const shown = await dash.textContent("main") ?? "";
          assert.match(shown, /SMTP server refused the report/, "the error");
          assert.match(shown, /connecting to smtp\.example\.com/, "the handler's log");
          assert.match(shown, /kind:failing/, "the tags");
          await screenshot(dash, "dashboard-job.png");
          const clickedAt = Date.now();
          // Record every state the demo page shows for the job from now on.
          await page.evaluate((id) => {
            const seen: string[] = [];
            (globalThis as unknown as { seen: string[] }).seen = seen;
            new MutationObserver(() => {
              const state = document.querySelector<HTMLElement>(`tr[data-job='${id}']`)?.dataset
                .state;
              if (state && seen.at(-1) !== state) seen.push(state);
            }).observe(document.querySelector("#job-list")!, { attributes: true, subtree: true });
          }, failedId);
          await dash.click("button:has-text('Retry')");
          // The demo page sees the job run again and fail again.
          await page.waitForFunction(
            () => {
              const seen = (globalThis as unknown as { seen: string[] }).seen;
              return seen.includes("active") && seen.at(-1) === "failed";
            },
            undefined,
            { timeout: 15_000 },
          );
          const after = await (await fetch(`${app.base}/kiln/api/jobs/${failedId}`)).json();
          assert.equal(after.state, "failed");
          assert.ok(
            after.errors.at(-1).at >= clickedAt,
            "its latest error is from the retried run",
          );
        },
      );

      await t.step("a search by tag finds the right job", async () => {
        await dash.goto(`${app.base}/kiln/jobs`);
        await dash.fill("input[name='tag']", "kind:failing");
        await dash.click("form.search button[type='submit']");
        await dash.waitForLoadState();
        await dash.waitForSelector(`tr[data-job='${failedId}']`);
        assert.equal(
          await dash.locator("tr[data-job]").count(),
          1,
          "only the failing job has the tag",
        );
        assert.match(await dash.textContent(`tr[data-job='${failedId}']`) ?? "", /kind:failing/);
      });

      await t.step("a second page sees the first join the presence room, and leave", async () => {
        await signIn(page, "Ada");
        await page.waitForSelector("#members li:has-text('Ada')");
        const second = await context.newPage();
        await second.goto(`${app.base}/`);
        await signIn(second, "Grace");
        await second.waitForSelector("#members li:has-text('Ada')");
        await page.waitForSelector("#members li:has-text('Grace')");
        await screenshot(page, "demo.png", true);
        await second.close();
        await page.waitForSelector("#members li:has-text('Grace')", { state: "detached" });
      });

      await t.step(
        "the dashboard shows the queues and channels, and stays readable on a phone",
        async () => {
          await dash.goto(`${app.base}/kiln/`);
          assert.equal(await dash.textContent("[data-count='mail:failed']"), "1");
          await screenshot(dash, "dashboard.png", true);
          await dash.goto(`${app.base}/kiln/realtime`);
          await dash.waitForSelector("tr[data-channel='presence-lobby']:has-text('Ada')");
          await dash.setViewportSize({ width: 390, height: 844 });
          for (const path of ["/kiln/", "/kiln/jobs?state=failed", "/kiln/schedules"]) {
            await dash.goto(`${app.base}${path}`);
            const width = await dash.evaluate(() => document.documentElement.scrollWidth);
            assert.ok(width <= 390, `${path} is ${width}px wide on a 390px screen`);
          }
          await screenshot(dash, "dashboard-phone.png");
        },
      );

      await t.step(
        "the dashboard refuses a non-loopback client when local-only, whatever it claims",
        async () => {
          const outside = `http://${outsideAddress()}:${app.port}`;
          const remote = await app.browser.newContext({
            extraHTTPHeaders: { "X-Forwarded-For": "127.0.0.1" },
          });
          const visitor = await remote.newPage();
          const demoPage = await visitor.goto(`${outside}/`);
          assert.equal(demoPage?.status(), 200, "the demo itself is served");
          const refused = await visitor.goto(`${outside}/kiln/`);
          assert.equal(refused?.status(), 403);
          assert.match(
            await visitor.textContent("main") ?? "",
            /Not allowed to see this dashboard/,
          );
          const api = await visitor.goto(`${outside}/kiln/api/queues`);
          assert.equal(api?.status(), 403);
          await remote.close();
        },
      );
    } finally {
      await app.close();
    }
  },
});

Deno.test({
  name: "the demo on Redis through the gateway: a job completes and the dashboard counts it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using stack = await startRedisStack();
    const app = await start({ redis: stack.redis, prefix: "browser" });
    try {
      const page = await app.browser.newPage();
      await page.goto(`${app.base}/`);
      await page.click("[data-dispatch='flaky']");
      const done = "tr[data-name='sync-contacts'][data-state='completed']";
      await page.waitForSelector(done, { timeout: 30_000 });
      assert.match(await page.textContent(done) ?? "", /attempt 2/, "completed on its retry");
      await page.goto(`${app.base}/kiln/`);
      assert.equal(await page.textContent("[data-count='default:completed']"), "1");
    } finally {
      await app.close();
    }
  },
});
