import test from "ava";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { useTestDatabase } from "../helpers/db.js";
import { chromiumLaunch, problems, screenshot, seriesPixels } from "./browser.js";
import { call, getJson, webStart, type TestWeb } from "./server.js";

/**
 * The workers page's charts (web/assets/charts.ts over uPlot, served by the app) and the samples
 * API, on an in-process web app over samples written here: the API's window and `since`, the
 * assets, and in Chromium the empty state, five charts whose series are really drawn (their
 * colours read back from the canvas inside the plotting area), a refresh without a reload, and
 * no CSP violation or console error.
 */
const dbUrl = useTestDatabase(test);
let web: TestWeb;
let browser: Browser;

test.before(async () => {
  web = await webStart({ databaseUrl: await dbUrl(), chartRefreshMs: 300 });
  browser = await chromiumLaunch();
});

test.after.always(async () => {
  await browser?.close();
  await web?.stop();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * `count` samples 10 s apart, the last ending on the latest 10 s boundary, with `skip` of them
 * left out (a gap); distinct values per series so that no line hides another. Eight workflows
 * queue 10, 20 ... 80 instances (so the six busiest are drawn), run 8 ... 1 and sleep 1 ... 8.
 */
async function samplesWrite(p: { count: number; skip?: [number, number]; offset?: number }): Promise<void> {
  await web.pool.query(
    `INSERT INTO waymark.samples (at, seconds, actions, failures, duration_p50_ms, duration_p95_ms, step_p50_ms, step_p95_ms, lag_p50_ms, lag_p95_ms, depth, capped)
     SELECT to_timestamp(floor(extract(epoch FROM now()) / 10) * 10) - ($3 + g) * interval '10 seconds', 10,
            500 + (g % 7) * 20, 40 + g % 5, 20 + g % 3, 80 + g % 4, 3, 12 + g % 2, 100, 900 + g % 5,
            (SELECT jsonb_object_agg('wf' || w, jsonb_build_object('queued', w * 10 + g % 3, 'running', 9 - w, 'sleeping', w)) FROM generate_series(1, 8) w),
            CASE WHEN g = 5 THEN '{queued}'::text[] ELSE '{}' END
       FROM generate_series(0, $1 - 1) g WHERE g NOT BETWEEN ($2::int[])[1] AND ($2::int[])[2]`,
    [p.count, p.skip ?? [-1, -1], p.offset ?? 0],
  );
}

async function opened(): Promise<{ context: BrowserContext; page: Page; seen: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
  const page = await context.newPage();
  const seen = problems(page);
  // Every CSP violation, whether or not the browser also logs it.
  await page.addInitScript(() => {
    const w = globalThis as unknown as {
      __csp: string[];
      document: { addEventListener(n: string, f: (e: { violatedDirective: string; blockedURI: string }) => void): void };
    };
    w.__csp = [];
    w.document.addEventListener("securitypolicyviolation", (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const r = await page.goto(`${web.url}/workers`);
  if (r?.status() !== 200) throw new Error(`/workers answered ${r?.status()}`);
  return { context, page, seen };
}

const cspViolations = (page: Page) => page.evaluate(() => (globalThis as unknown as { __csp: string[] }).__csp);

test.serial("with no samples the page says so, draws no empty frames, and breaks no CSP rule", async (t) => {
  const { context, page, seen } = await opened();
  await page.waitForSelector('#charts[data-state="empty"][data-drawn="0"]');
  t.true(await page.isVisible("[data-charts-empty]"));
  t.regex((await page.textContent("[data-charts-empty]")) ?? "", /No samples yet/);
  t.false(await page.isVisible("[data-charts-grid]"));
  t.is(await page.locator("#charts canvas").count(), 0);
  await screenshot(page, "workers-charts-empty");
  t.deepEqual(await cspViolations(page), []);
  t.deepEqual(seen, []);
  await context.close();
});

test.serial("the API serves the last hour, oldest first, with rates; since= gives what came after; a bad since is 400", async (t) => {
  await web.pool.query("DELETE FROM waymark.samples");
  await samplesWrite({ count: 400 }); // 66 minutes: the oldest are outside the hour
  const { status, body } = await getJson<Json>(`${web.url}/api/samples`);
  t.is(status, 200);
  t.is(body.windowMs, 3_600_000);
  t.true(body.samples.length >= 359 && body.samples.length <= 360, String(body.samples.length));
  const times = body.samples.map((s: Json) => Date.parse(s.at));
  t.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
  );
  t.true(Date.parse(body.now) - times[0] <= 3_600_000 + 5000);
  const last = body.samples.at(-1);
  t.like(last, { seconds: 10, actions: 500, failures: 40, actionsPerSecond: 50, failuresPerSecond: 4, durationP50Ms: 20, capped: [] });
  t.deepEqual(last.depth.wf8, { queued: 80, running: 1, sleeping: 8 });
  const after = await getJson<Json>(`${web.url}/api/samples?since=${encodeURIComponent(body.samples.at(-3).at)}`);
  t.deepEqual(
    after.body.samples.map((s: Json) => s.at),
    body.samples.slice(-2).map((s: Json) => s.at),
  );
  t.is((await getJson(`${web.url}/api/samples?since=yesterday`)).status, 400);
  t.is((await getJson(`${web.url}/api/samples?since=2026-01-01&since=2026-01-02`)).status, 400);
});

test.serial("uPlot and the charts script are served by the app itself, under the same strict CSP", async (t) => {
  for (const [path, type, start] of [
    ["/assets/uplot.js", "text/javascript", "/*! https://github.com/leeoniya/uPlot"],
    ["/assets/uplot.css", "text/css", ".uplot"],
    ["/assets/charts.js", "text/javascript", '"use strict";'],
  ] as const) {
    const r = await call(`${web.url}${path}`);
    t.is(r.status, 200, path);
    t.true(r.headers.get("content-type")?.startsWith(type), path);
    t.true((await r.text()).startsWith(start), path);
  }
  const page = await call(`${web.url}/workers`);
  t.regex(page.headers.get("content-security-policy") ?? "", /script-src 'self'; style-src 'self'/);
  const text = await page.text();
  t.regex(text, /<script src="\/assets\/uplot\.js" defer><\/script>\s*<script src="\/assets\/charts\.js" defer><\/script>/);
  t.regex(text, /<link rel="stylesheet" href="\/assets\/uplot\.css">/);
  // Only the page that draws charts loads them.
  t.notRegex(await (await call(`${web.url}/instances`)).text(), /uplot/);
});

test.serial("five charts draw their series inside the plotting area, and new samples arrive without a reload", async (t) => {
  await web.pool.query("DELETE FROM waymark.samples");
  await samplesWrite({ count: 300, skip: [100, 110], offset: 1 }); // 50 minutes, with a gap, ending 10 s ago
  const { context, page, seen } = await opened();
  await page.waitForSelector('#charts[data-state="drawn"][data-drawn="289"]');
  t.false(await page.isVisible("[data-charts-empty]"));
  t.is(await page.locator("#charts canvas").count(), 5);
  const charts = await seriesPixels(page);
  t.deepEqual(Object.keys(charts).sort(), ["depth", "duration", "lag", "step", "throughput"]);
  t.deepEqual(
    charts.throughput!.series.map((s) => s.label),
    ["actions/s", "failures/s"],
  );
  // The six workflows with the most queued, busiest first.
  t.deepEqual(
    charts.depth!.series.map((s) => s.label),
    ["wf8", "wf7", "wf6", "wf5", "wf4", "wf3"],
  );
  t.regex((await page.textContent("[data-depth-note]")) ?? "", /6 busiest of 8 workflows; counts stop at the sampler's cap/);
  for (const [name, chart] of Object.entries(charts)) {
    t.true(chart.area[0]! > 200 && chart.area[1]! > 100, `${name}: plotting area ${chart.area}`);
    // A 2-pixel line across five sixths of the width leaves hundreds of pixels of its colour.
    for (const s of chart.series) t.true(s.pixels > 300, `${name} ${s.label} (${s.color}): ${s.pixels} pixels`);
  }
  await screenshot(page, "workers-charts");

  // Another status redraws the depth chart with its own busiest workflows.
  await page.selectOption("select[data-depth-status]", "running");
  await page.waitForFunction(() => {
    const d = (globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }).document;
    return d.querySelector('[data-chart="depth"] .u-legend .u-series:nth-child(2) .u-label')?.textContent === "wf1";
  });

  // A sample written now reaches the open page at its next refresh.
  await page.evaluate(() => ((globalThis as unknown as { __stay: number }).__stay = 1));
  await samplesWrite({ count: 1 });
  await page.waitForSelector('#charts[data-drawn="290"]');
  t.is(await page.evaluate(() => (globalThis as unknown as { __stay?: number }).__stay), 1, "the page was not reloaded");
  t.deepEqual(await cspViolations(page), []);
  t.deepEqual(seen, []);
  await context.close();
});
