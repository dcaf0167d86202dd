import test from "ava";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { close, WorkflowFailedError } from "waymark";
import { poolCreate } from "../../store/db.js";
import { scheduleUpsert } from "../../store/schedules.js";
import { useTestDatabase } from "../helpers/db.js";
import { ROOT, supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";
import { chromiumLaunch, problems, screenshot, seriesPixels } from "./browser.js";

/**
 * The web app in a real browser, served by `waymark supervise` itself (WAYMARK_WEBAPP_ENABLED),
 * with a token: every page opens, an instance is followed from the list to its graph, a node
 * turns complete while its page is open, schedules pause and resume, requeue and cancel work,
 * an action result holding <script> renders as text, and the workers page charts the
 * supervisor's own samples.
 */
const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/web/workflows.ts";
const TOKEN = "browser-test-token";
const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-web-browser-"));
let sup: SupervisorProcess;
let browser: Browser;
let pool: pg.Pool;
let base = "";
let W: typeof import("../fixtures/web/workflows.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  browser = await chromiumLaunch();
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: [FIXTURE],
    env: { TEST_DIR: dir, WAYMARK_WEBAPP_ENABLED: "true", WAYMARK_WEBAPP_ADDR: "127.0.0.1:0", WAYMARK_WEBAPP_TOKEN: TOKEN },
  });
  base = /url=(http:\/\/\S+)/.exec(await sup.waitFor(/web app listening url=http:\/\/\S+/))![1]!;
  pool = poolCreate({ connectionString: await dbUrl(), max: 2 });
  W = await import("../fixtures/web/workflows.js");
});

test.after.always(async () => {
  await browser?.close();
  await pool?.end();
  await close();
  await sup?.stop();
});

/** A fresh browser context, signed in the way a person does it: /?token=... once. */
async function signedIn(): Promise<{ context: BrowserContext; page: Page; seen: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("dialog", (d) => void d.accept());
  const seen = problems(page);
  await page.goto(`${base}/?token=${TOKEN}`);
  return { context, page, seen };
}

async function finishedGated(key: string): Promise<string> {
  const h = await new W.GatedWorkflow().start([key]);
  writeFileSync(path.join(dir, `${key}.gate`), "");
  await h.result();
  return h.instanceId;
}

test.serial("every page opens, with no console error", async (t) => {
  const id = await finishedGated("pages");
  const { context, page, seen } = await signedIn();
  t.true(page.url().endsWith("/instances"), page.url());
  t.is(await page.textContent("h1"), "Instances");
  await screenshot(page, "instances");
  const version = await pool.query(`SELECT id FROM waymark.workflow_versions WHERE workflow_name = 'GatedWorkflow' LIMIT 1`);
  for (const [p, heading, shot] of [
    ["/schedules", "Schedules", "schedules"],
    ["/workers", "Workers", "workers"],
    ["/versions", "Workflows", "versions"],
    [`/versions/${version.rows[0].id}`, "GatedWorkflow", "version"],
    [`/instances/${id}`, "GatedWorkflow", "instance-completed"],
    ["/instances?status=completed&workflow=GatedWorkflow", "Instances", "instances-filtered"],
  ] as const) {
    const r = await page.goto(`${base}${p}`);
    t.is(r?.status(), 200, p);
    t.regex((await page.textContent("h1")) ?? "", new RegExp(heading), p);
    await screenshot(page, shot);
  }
  t.true((await page.locator("tr[data-instance]").count()) >= 1);
  t.deepEqual(seen, []);
  await context.close();
});

test.serial("follows an instance from the list to its graph", async (t) => {
  const id = await finishedGated("follow");
  const { context, page, seen } = await signedIn();
  await page.click(`a[href="/instances/${id}"]`);
  await page.waitForURL(`**/instances/${id}`);
  await page.waitForSelector("svg.graph");
  t.true((await page.locator('svg.graph g.node[data-state="completed"]').count()) >= 4);
  t.is(await page.locator('svg.graph g.node[data-state="running"]').count(), 0);
  t.is(await page.locator("#summary [data-status]").first().textContent(), "completed");
  t.is(await page.locator("tr[data-attempt]").count(), 6);
  await screenshot(page, "instance-from-list");
  t.deepEqual(seen, []);
  await context.close();
});

test.serial("a node turns complete while the page is open, without a reload", async (t) => {
  const h = await new W.GatedWorkflow().start(["live"]);
  const { context, page, seen } = await signedIn();
  await page.goto(`${base}/instances/${h.instanceId}`);
  const gate = page.locator("svg.graph g.node", { hasText: "waitForGate" });
  await gate.and(page.locator('[data-state="running"]')).waitFor({ timeout: 20_000 });
  await page.evaluate(() => ((globalThis as unknown as { __stay: number }).__stay = 1));
  const shot = await screenshot(page, "instance-live-running");
  if (process.env.UPDATE_SCREENSHOTS) {
    mkdirSync(path.join(ROOT, "docs"), { recursive: true });
    copyFileSync(shot, path.join(ROOT, "docs", "web-instance.png"));
  }
  writeFileSync(path.join(dir, "live.gate"), "");
  await gate.and(page.locator('[data-state="completed"]')).waitFor({ timeout: 20_000 });
  await page.waitForSelector('main[data-status="completed"]', { timeout: 20_000 });
  t.is(await page.evaluate(() => (globalThis as unknown as { __stay?: number }).__stay), 1, "the page was not reloaded");
  t.regex((await page.textContent('pre[data-value="result"]')) ?? "", /total: 60/);
  t.is(await page.locator('svg.graph g.node[data-state="running"]').count(), 0);
  t.is(await page.textContent(".live"), "finished");
  await screenshot(page, "instance-live-completed");
  t.deepEqual(seen, []);
  await context.close();
});

test.serial("an action result holding <script> renders as text, and no script runs", async (t) => {
  const evil = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`;
  const h = await new W.HtmlWorkflow().start([evil]);
  await h.result();
  const { context, page } = await signedIn();
  await page.goto(`${base}/instances/${h.instanceId}`);
  // Shown as the JSON string it is (quotes escaped), character for character.
  t.true(((await page.textContent('pre[data-value="result"]')) ?? "").includes(JSON.stringify(evil)));
  t.true(((await page.textContent('pre[data-value="args"]')) ?? "").includes(JSON.stringify(evil)));
  t.is(await page.locator("main script, main img").count(), 0);
  t.is(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss), undefined);
  await screenshot(page, "instance-html-result");
  await context.close();
});

test.serial("pauses, resumes and deletes a schedule", async (t) => {
  await scheduleUpsert(pool, {
    workflowName: "HtmlWorkflow",
    scheduleName: "nightly",
    kind: "cron",
    cron: "0 0 3 * * *",
    intervalMs: null,
    timezone: "Europe/Berlin",
    jitterMs: 0,
    args: ["n"],
    priority: 0,
    allowDuplicate: false,
    nextRunAt: new Date(Date.now() + 86_400_000),
  });
  const { context, page, seen } = await signedIn();
  await page.goto(`${base}/schedules`);
  const row = page.locator('tr[data-schedule="HtmlWorkflow/nightly"]');
  t.is(await row.locator(".badge").textContent(), "active");
  await row.locator('button[data-action="pause"]').click();
  await row.locator('.badge:text("paused")').waitFor();
  await screenshot(page, "schedules-paused");
  t.is((await pool.query(`SELECT status FROM waymark.schedules WHERE schedule_name = 'nightly'`)).rows[0].status, "paused");
  await row.locator('button[data-action="resume"]').click();
  await row.locator('.badge:text("active")').waitFor();
  t.is((await pool.query(`SELECT status FROM waymark.schedules WHERE schedule_name = 'nightly'`)).rows[0].status, "active");
  await row.locator('button[data-action="delete"]').click();
  await row.waitFor({ state: "detached" });
  t.is((await pool.query(`SELECT count(*)::int AS n FROM waymark.schedules WHERE schedule_name = 'nightly'`)).rows[0].n, 0);
  t.deepEqual(seen, []);
  await context.close();
});

test.serial("requeue a failed instance, cancel a running one", async (t) => {
  const failed = await new W.RejectWorkflow().start(["browser"]);
  await t.throwsAsync(failed.result(), { instanceOf: WorkflowFailedError });
  const { context, page, seen } = await signedIn();
  await page.goto(`${base}/instances/${failed.instanceId}`);
  t.regex((await page.textContent("#outcome")) ?? "", /InvoiceRejected: browser/);
  await page.click('button[data-action="requeue"]');
  await page.waitForURL((u) => /\/instances\/[0-9a-f-]{36}$/.test(u.pathname) && !u.pathname.endsWith(failed.instanceId));
  t.is(await page.textContent("#summary h1 .badge").then((s) => !!s), true);

  const running = await new W.GatedWorkflow().start(["never"]);
  await page.goto(`${base}/instances/${running.instanceId}`);
  await page.locator('svg.graph g.node[data-state="running"]').first().waitFor({ timeout: 20_000 });
  await page.click('button[data-action="cancel"]');
  await page.waitForSelector('main[data-status="cancelled"], #summary [data-status="cancelled"]', { timeout: 20_000 });
  t.is(await running.status(), "cancelled");
  await screenshot(page, "instance-cancelled");
  t.deepEqual(seen, []);
  await context.close();
});

test.serial("the workers page shows the serving supervisor and its children, and charts the actions it ran", async (t) => {
  // The supervisor samples every 10 s: wait for an interval that holds the actions of the tests above.
  await until("a sample with actions", async () => (await pool.query(`SELECT 1 FROM waymark.samples WHERE actions > 0`)).rowCount! > 0, 30_000, 200);
  const { context, page, seen } = await signedIn();
  await page.goto(`${base}/workers`);
  const card = page.locator("section.worker").first();
  t.regex((await card.textContent()) ?? "", /this process/);
  t.true((await card.locator("tr[data-child]").count()) >= 1);
  await page.waitForSelector('#charts[data-state="drawn"]');
  const { throughput } = await seriesPixels(page);
  const actions = throughput?.series.find((s) => s.label === "actions/s");
  t.true((actions?.pixels ?? 0) > 0, JSON.stringify(throughput));
  await screenshot(page, "workers-supervisor-charts");
  t.deepEqual(seen, []);
  await context.close();
});
