import test from "ava";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { close, WorkflowFailedError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { call, getJson, webStart, type TestWeb } from "./server.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/web/workflows.ts";
const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-web-api-"));
let sup: SupervisorProcess;
let web: TestWeb;
let W: typeof import("../fixtures/web/workflows.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: { TEST_DIR: dir } });
  web = await webStart({
    databaseUrl: await dbUrl(),
    stats: () => ({ owner: "in-test", inflight: 3, actions: 7, children: [{ pid: 42, slot: 0, state: "ready", inflight: 3, dispatched: 9 }] }),
  });
  W = await import("../fixtures/web/workflows.js");
});

test.after.always(async () => {
  await web?.stop();
  await close();
  await sup?.stop();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test("/healthz answers ok, and / goes to the instances page", async (t) => {
  t.deepEqual((await getJson(`${web.url}/healthz`)).body, { ok: true });
  const r = await call(`${web.url}/`);
  t.is(r.status, 303);
  t.is(r.headers.get("location"), "/instances");
});

test("an instance's JSON: status, decoded-able values, attempts with timings and child pids, node states", async (t) => {
  const h = await new W.GatedWorkflow().start(["api-done"]);
  writeFileSync(path.join(dir, "api-done.gate"), "");
  t.deepEqual(await h.result(), { gate: "opened api-done", total: 60, big: true });
  const { status, body } = await getJson<Json>(`${web.url}/api/instances/${h.instanceId}`);
  t.is(status, 200);
  t.is(body.instance.status, "completed");
  t.deepEqual(body.instance.args, ["api-done"]);
  t.is(body.instance.result.total, 60);
  t.false("state" in body.instance);
  const names = body.attempts.map((a: Json) => a.actionName).sort();
  t.deepEqual(names, ["prepare", "processItem", "processItem", "processItem", "summarize", "waitForGate"]);
  for (const a of body.attempts) {
    t.is(a.status, "completed");
    t.true(Number.isInteger(a.childPid) && a.childPid > 0);
    t.truthy(a.startedAt && a.finishedAt);
  }
  // Every action node of the graph is complete; the map's node counts its three calls.
  const states = Object.values(body.nodes) as Json[];
  t.true(states.length >= 4);
  t.true(states.every((n) => n.state === "completed"));
  t.true(states.some((n) => n.count === "3/3"));
  t.true(Array.isArray(body.graph) && body.graph[0].nodes.length > 0);
  // The step that awaits the map's calls shows their progress too.
  const all = body.graph[0].nodes.find((n: Json) => /Promise\.all/.test(n.label));
  t.is(body.nodes[all.id].count, "3/3");
});

test("a running instance shows its call in flight from the snapshot", async (t) => {
  const h = await new W.GatedWorkflow().start(["api-live"]);
  const body = await until(
    "the call in flight on the instance's page",
    async () => {
      const b = (await getJson<Json>(`${web.url}/api/instances/${h.instanceId}`)).body;
      return b.pending?.some((c: Json) => c.name === "waitForGate") && b;
    },
    10_000,
    50,
  );
  const gate = body.pending.find((c: Json) => c.name === "waitForGate");
  t.truthy(gate, JSON.stringify(body.pending));
  t.is(gate.status, "running");
  t.deepEqual(gate.args, ["api-live"]);
  t.is(body.nodes[Object.keys(body.nodes).find((k) => body.nodes[k].state === "running")!].state, "running");
  writeFileSync(path.join(dir, "api-live.gate"), "");
  await h.result();
});

test("requeue queues a new instance of a failed one's version with its arguments", async (t) => {
  const h = await new W.RejectWorkflow().start(["nope"]);
  await t.throwsAsync(h.result(), { instanceOf: WorkflowFailedError });
  const denied = await getJson<Json>(`${web.url}/api/instances/${randomUUID()}/requeue`, { method: "POST" });
  t.is(denied.status, 404);
  const r = await getJson<Json>(`${web.url}/api/instances/${h.instanceId}/requeue`, { method: "POST" });
  t.is(r.status, 200);
  t.not(r.body.id, h.instanceId);
  const again = (await getJson<Json>(`${web.url}/api/instances/${r.body.id}`)).body;
  const first = (await getJson<Json>(`${web.url}/api/instances/${h.instanceId}`)).body;
  t.deepEqual(again.instance.args, ["nope"]);
  t.is(again.instance.versionId, first.instance.versionId);
  // A completed instance cannot be requeued.
  const ok = await new W.HtmlWorkflow().start(["x"]);
  await ok.result();
  t.is((await call(`${web.url}/api/instances/${ok.instanceId}/requeue`, { method: "POST" })).status, 409);
});

test("cancel: a queued instance is cancelled at once; GET on a mutation is 405", async (t) => {
  const h = await new W.HtmlWorkflow().start(["later"], { delayMs: 60_000 });
  t.is((await call(`${web.url}/api/instances/${h.instanceId}/cancel`)).status, 405);
  const r = await getJson<Json>(`${web.url}/api/instances/${h.instanceId}/cancel`, { method: "POST" });
  t.is(r.status, 200);
  t.is(r.body.before, "queued");
  t.is(await h.status(), "cancelled");
});

test("events: POST /api/instances/<id>/events/<name> sends (idempotently with Idempotency-Key); the instance's JSON shows its waits, messages and published values", async (t) => {
  const h = await new W.ApprovalWorkflow().start(["o-9"]);
  const waiting = await until("the wait in the snapshot", async () => {
    const r = await getJson<Json>(`${web.url}/api/instances/${h.instanceId}`);
    return r.body.waits?.events?.length ? r.body : undefined;
  });
  t.like(waiting.waits.events[0], { name: "approval", deadline: null });
  t.deepEqual(
    waiting.published.map((p: Json) => [p.key, p.value]),
    [["stage", "waiting on o-9"]],
  );
  const send = (id: string, body: string, key?: string) =>
    getJson<Json>(`${web.url}/api/instances/${id}/events/approval`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(key ? { "Idempotency-Key": key } : {}) },
      body,
    });
  t.is((await send(h.instanceId, "{not json")).status, 400);
  t.is((await send(randomUUID(), "{}")).status, 404);
  const first = await send(h.instanceId, '{"approved": true}', "hook-1");
  t.deepEqual([first.status, first.body], [200, { ok: true, stored: true }]);
  const again = await send(h.instanceId, '{"approved": false}', "hook-1");
  t.deepEqual([again.status, again.body], [200, { ok: true, stored: false }]);
  t.is(await h.result(), "approved");
  t.is((await send(h.instanceId, "{}")).status, 409);
  const done = await getJson<Json>(`${web.url}/api/instances/${h.instanceId}`);
  t.deepEqual(
    done.body.published.map((p: Json) => [p.key, p.value]),
    [["stage", "decided"]],
  );
  t.deepEqual(done.body.messages, []);
  const page = await call(`${web.url}/instances/${h.instanceId}`);
  t.regex(await page.text(), /data-published="stage"/);
});

test("a form post redirects to its next page (or the requeued instance)", async (t) => {
  const h = await new W.HtmlWorkflow().start(["form"], { delayMs: 60_000 });
  const r = await call(`${web.url}/api/instances/${h.instanceId}/cancel`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ next: `/instances/${h.instanceId}` }).toString(),
  });
  t.is(r.status, 303);
  t.is(r.headers.get("location"), `/instances/${h.instanceId}`);
  // An outside address is not a place to go.
  const h2 = await new W.HtmlWorkflow().start(["form2"], { delayMs: 60_000 });
  const r2 = await call(`${web.url}/api/instances/${h2.instanceId}/cancel`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "next=//evil.example/",
  });
  t.is(r2.headers.get("location"), "/");
});

test("schedules: list, pause, resume (next run from now), delete", async (t) => {
  const { scheduleUpsert } = await import("../../store/schedules.js");
  await scheduleUpsert(web.pool, {
    workflowName: "HtmlWorkflow",
    scheduleName: "api-sched",
    kind: "interval",
    cron: null,
    intervalMs: 3_600_000,
    timezone: "UTC",
    jitterMs: 0,
    args: ["s"],
    priority: 0,
    allowDuplicate: false,
    nextRunAt: new Date(Date.now() + 5 * 3_600_000),
  });
  const base = `${web.url}/api/schedules/HtmlWorkflow/api-sched`;
  const list = await getJson<Json>(`${web.url}/api/schedules`);
  t.true(list.body.schedules.some((s: Json) => s.scheduleName === "api-sched" && s.status === "active"));
  t.is((await getJson<Json>(`${base}/pause`, { method: "POST" })).body.schedule.status, "paused");
  const before = Date.now();
  const resumed = (await getJson<Json>(`${base}/resume`, { method: "POST" })).body.schedule;
  t.is(resumed.status, "active");
  const after = Date.now();
  // Recomputed from now (one interval ahead), not the stored run five hours away.
  const next = new Date(resumed.nextRunAt).getTime();
  t.true(next >= before + 3_600_000 - 1000 && next <= after + 3_600_000 + 1000, `next run ${new Date(next).toISOString()}`);
  t.is((await call(`${base}/delete`, { method: "POST" })).status, 200);
  t.is((await call(`${base}/pause`, { method: "POST" })).status, 404);
  // A cadence that gives no next run (stored before it was validated): the resume is refused.
  await scheduleUpsert(web.pool, {
    workflowName: "HtmlWorkflow",
    scheduleName: "feb-30",
    kind: "cron",
    cron: "0 0 0 30 2 *",
    intervalMs: null,
    timezone: "UTC",
    jitterMs: 0,
    args: [],
    priority: 0,
    allowDuplicate: false,
    nextRunAt: new Date(Date.now() + 3_600_000),
  });
  const refused = await getJson<Json>(`${web.url}/api/schedules/HtmlWorkflow/feb-30/resume`, { method: "POST" });
  t.is(refused.status, 409);
  t.is(
    refused.body.error,
    'schedule "feb-30" of workflow HtmlWorkflow cannot compute its next run (Invalid explicit day of month definition): give it a new cadence with scheduleWorkflow',
  );
  await call(`${web.url}/api/schedules/HtmlWorkflow/feb-30/delete`, { method: "POST" });
});

test("workers: the published rows and this process's live counters", async (t) => {
  // The child started exactly a minute before the row was published: its rate is 600 / 60 s
  // however long the test takes to get here.
  const published = new Date();
  await web.pool.query(
    `INSERT INTO waymark.worker_status (owner, hostname, pid, started_at, updated_at, stats) VALUES ('host-b:7:abc', 'host-b', 7, $2::timestamptz - interval '1 minute', $2, $1)`,
    [
      JSON.stringify({
        owner: "host-b:7:abc",
        inflight: 2,
        actions: 600,
        recycled: 1,
        children: [{ pid: 70, slot: 0, state: "ready", inflight: 2, dispatched: 600, startedAt: published.getTime() - 60_000 }],
      }),
      published,
    ],
  );
  const { body } = await getJson<Json>(`${web.url}/api/workers`);
  t.true(body.workers.some((w: Json) => w.owner === "host-b:7:abc" && w.stats.recycled === 1));
  t.is(body.local.stats.inflight, 3);
  const page = await (await call(`${web.url}/workers`)).text();
  t.regex(page, /host-b/);
  t.regex(page, /this process/);
  // The other supervisor's card: its throughput (600 actions in a minute), recycles, and its child
  // with pid, state, in flight, dispatched and rate.
  const cardB = page.slice(page.indexOf('data-owner="host-b:7:abc"'));
  t.regex(cardB, /data-stat="throughput"><span>actions\/s \(avg\)<\/span><b>10<\/b>/);
  t.regex(cardB, /data-stat="recycled"><span>recycled<\/span><b>1<\/b>/);
  t.regex(cardB, /<tr data-child="70"><td>70<\/td><td>0<\/td><td>ready<\/td><td>2<\/td><td>600<\/td><td data-rate>10\.0<\/td><\/tr>/);
});

test("workflow versions: the list, and each version's graph", async (t) => {
  const list = await getJson<Json>(`${web.url}/api/versions`);
  const gated = list.body.versions.find((v: Json) => v.name === "GatedWorkflow");
  t.truthy(gated);
  const one = await getJson<Json>(`${web.url}/api/versions/${gated.id}`);
  t.is(one.body.version.name, "GatedWorkflow");
  t.true(one.body.graph[0].nodes.some((n: Json) => n.kind === "action"));
  const page = await (await call(`${web.url}/versions/${gated.id}`)).text();
  t.regex(page, /<svg class="graph"/);
  t.is((await call(`${web.url}/api/versions/999999`)).status, 404);
});

test("unknown things are 404 with a message; bad filters are 400", async (t) => {
  t.is((await getJson<Json>(`${web.url}/api/instances/${randomUUID()}`)).status, 404);
  t.is((await call(`${web.url}/api/instances/not-a-uuid`)).status, 404);
  t.is((await call(`${web.url}/nothing-here`)).status, 404);
  const bad = await getJson<Json>(`${web.url}/api/instances?status=bogus`);
  t.is(bad.status, 400);
  t.regex(bad.body.error, /unknown status/);
});
