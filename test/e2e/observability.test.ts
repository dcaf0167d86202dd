import test from "ava";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { trace } from "@opentelemetry/api";
import { execa } from "execa";
import pg from "pg";
import { close } from "waymark";
import { silentLogger } from "../../log/logger.js";
import { instanceView, webData } from "../../web/data.js";
import { instancePage } from "../../web/pages/instance.js";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT, supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

/**
 * Observability on real parts: a supervisor serving /metrics whose counters match what ran; a
 * trace from the caller's span through the supervisor's instance span to the action spans in its
 * children (an app's OpenTelemetry set-up, loaded by WAYMARK_TELEMETRY_MODULE, writes the spans
 * of every process to one file); and an action's progress, live in the CLI and the page, and
 * handed to its retry.
 */
const dbUrl = useTestDatabase(test);
const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-observe-"));
const TRACE_FILE = path.join(dir, "spans.jsonl");
process.env.TRACE_FILE = TRACE_FILE;
let sup: SupervisorProcess;
let metricsUrl: string;
let W: typeof import("../fixtures/workflows/observed.js");

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/observed.ts"],
    env: { TEST_DIR: dir, TRACE_FILE, WAYMARK_METRICS_ADDR: `127.0.0.1:${port}`, WAYMARK_TELEMETRY_MODULE: "test/fixtures/telemetry.ts" },
  });
  // The app's side of the trace: the same set-up, in this process.
  await import("../fixtures/telemetry.js");
  W = await import("../fixtures/workflows/observed.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

/** The value of one series of a Prometheus text exposition, matched by name and labels. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

/** Every span the processes of this test recorded, in the order they ended. */
function spans(): Array<{
  pid: number;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
  events: string[];
}> {
  return readFileSync(TRACE_FILE, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

test.serial("/metrics: a workflow of 3 actions run 10 times counts 30 attempts, 10 instances started and completed, and their histograms", async (t) => {
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => new W.ThreeSteps().run(i)));
  t.deepEqual(
    results,
    Array.from({ length: 10 }, (_, i) => i + 3),
  );
  t.is(await new W.Flaky().run(7), 7);
  const text = await (await fetch(metricsUrl)).text();
  t.is(sample(text, "waymark_action_attempts_total", { action: "stepOne", outcome: "completed" }), 30);
  t.is(sample(text, "waymark_action_attempts_total", { action: "failsOnce", outcome: "failed" }), 1);
  t.is(sample(text, "waymark_action_attempts_total", { action: "failsOnce", outcome: "completed" }), 1);
  t.is(sample(text, "waymark_instances_started_total", { workflow: "ThreeSteps" }), 10);
  t.is(sample(text, "waymark_instances_finished_total", { workflow: "ThreeSteps", status: "completed" }), 10);
  t.is(sample(text, "waymark_action_duration_seconds_count", { action: "stepOne", outcome: "completed" }), 30);
  t.is(sample(text, "waymark_action_queue_lag_seconds_count", { action: "stepOne" }), 30);
  // Two of each instance's three actions follow a result: 20 steps measured.
  t.is(sample(text, "waymark_step_latency_seconds_count", { workflow: "ThreeSteps" }), 20);
  t.is(sample(text, "waymark_children", {}), 2);
  t.true((sample(text, "waymark_action_duration_seconds_bucket", { action: "stepOne", le: "10800" }) ?? 0) === 30, "buckets reach hours");
  t.false(/instance_id|[0-9a-f]{8}-[0-9a-f]{4}-7/.test(text), "no instance ids in labels");
});

test.serial("a trace from the caller's span to the instance span in the supervisor and an action span per attempt in its child", async (t) => {
  const tracer = trace.getTracer("app");
  const handle = await tracer.startActiveSpan("POST /signup", async (span) => {
    try {
      return await new W.Traced().start([]);
    } finally {
      span.end();
    }
  });
  t.deepEqual(await handle.result(), ["in a span", "in a span"]);
  await until("the instance span ended", async () => spans().some((s) => s.name === "waymark.instance Traced"));
  const all = spans();
  const caller = all.find((s) => s.name === "POST /signup")!;
  const instance = all.find((s) => s.name === "waymark.instance Traced")!;
  const actions = all.filter((s) => s.name === "waymark.action tracedStep");
  t.is(caller.pid, process.pid);
  t.is(instance.pid, sup.pid, "the instance span is the supervisor's");
  t.is(instance.traceId, caller.traceId);
  t.is(instance.parentSpanId, caller.spanId);
  t.is(instance.attributes["waymark.instance_id"], handle.instanceId);
  t.is(instance.attributes["waymark.status"], "completed");
  t.is(actions.length, 2);
  for (const a of actions) {
    t.is(a.traceId, caller.traceId);
    t.is(a.parentSpanId, instance.spanId);
    t.not(a.pid, sup.pid, "each action span is recorded in its child");
    t.not(a.pid, process.pid);
    t.like(a.attributes, { "waymark.action": "tracedStep", "waymark.instance_id": handle.instanceId, "waymark.attempt": 1, "waymark.outcome": "completed" });
    t.deepEqual(a.events, ["user work"], "the action's own instrumentation lands in its span");
  }
});

test.serial("a child workflow joins its parent's trace: its instance span and action spans share the caller's trace id", async (t) => {
  const tracer = trace.getTracer("app");
  const handle = await tracer.startActiveSpan("POST /parent", async (span) => {
    try {
      return await new W.TracedParent().start([]);
    } finally {
      span.end();
    }
  });
  t.is(await handle.result(), 2);
  const [child] = await handle.children();
  await until("the child's instance span ended", async () =>
    spans().some((s) => s.attributes["waymark.instance_id"] === child!.instanceId && s.name.startsWith("waymark.instance")),
  );
  const caller = spans().find((s) => s.name === "POST /parent")!;
  const childSpans = spans().filter((s) => s.attributes["waymark.instance_id"] === child!.instanceId);
  t.true(childSpans.length >= 3, "the child's instance span and its two action spans");
  for (const s of childSpans) t.is(s.traceId, caller.traceId);
});

test.serial("an action's progress is live in instances show and the page, kept with the failed attempt, and handed to the retry", async (t) => {
  const h = await new W.LongJob().start(["p1"]);
  const pool = new pg.Pool({ connectionString: await dbUrl() });
  try {
    await until("the progress is written", async () => {
      const { rows } = await pool.query("SELECT progress FROM waymark.action_attempts WHERE instance_id = $1", [h.instanceId]);
      return (rows[0]?.progress as { percent?: number } | undefined)?.percent === 40;
    });
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
    const shown = await execa(process.execPath, [CLI, "instances", "show", h.instanceId], {
      cwd: ROOT,
      env: { ...inherited, WAYMARK_DATABASE_URL: await dbUrl() },
      extendEnv: false,
    });
    t.regex(shown.stdout, /longJob attempt 1 {2}running/);
    t.regex(shown.stdout, /progress 40% {2}copied 4 of 10 files {2}\{.*"cursor": ?4/);
    const page = instancePage((await instanceView(webData({ db: pool, log: silentLogger }), h.instanceId))!);
    t.regex(page, /<progress max="100" value="40"><\/progress> 40%/);
    t.regex(page, /copied 4 of 10 files/);
    writeFileSync(path.join(dir, "p1.gate"), "");
    t.deepEqual(await h.result(), { percent: 40, message: "copied 4 of 10 files", data: { cursor: 4 } });
    const { rows } = await pool.query("SELECT attempt, status, progress FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY attempt", [h.instanceId]);
    t.is(rows[0].status, "failed");
    t.like(rows[0].progress, { percent: 40 });
  } finally {
    await pool.end();
  }
});
