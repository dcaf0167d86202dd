import { readFileSync } from "node:fs";
import path from "node:path";
import test from "ava";
import pg from "pg";
import { close, WorkflowFailedError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);
const notes = notesDir();
const ENV = { TEST_DIR: notes.dir, WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "300", WAYMARK_ABORT_GRACE_MS: "300", WAYMARK_POLL_INTERVAL_MS: "50" };
let sup: SupervisorProcess;
let D: typeof import("../fixtures/workflows/durable.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({ databaseUrl: await dbUrl(), modules: ["test/fixtures/workflows/durable.ts"], env: ENV });
  D = await import("../fixtures/workflows/durable.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

async function query(text: string, params: unknown[]) {
  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}

async function waitForStatus(id: string, status: string): Promise<Record<string, unknown>> {
  return until(`instance ${id} to be ${status}`, async () => {
    const [row] = await query("SELECT status, lease_owner, scheduled_at, state IS NOT NULL AS has_state FROM waymark.instances WHERE id = $1", [id]);
    return row?.status === status ? (row as Record<string, unknown>) : undefined;
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test.serial("a timeout aborts the action's signal, and with attempts: 1 fails the instance with ActionTimeout", async (t) => {
  const e = await t.throwsAsync(new D.TimeoutWorkflow().run("timeout"), { instanceOf: WorkflowFailedError });
  t.is(e!.errorName, "ActionTimeout");
  t.regex(e!.errorMessage, /waitForAbort did not finish within 300 ms/);
  const lines = notes.lines("timeout.txt");
  t.regex(lines[0]!, /^start 1/);
  t.regex(lines[1]!, /^aborted 1 AbortError/);
});

test.serial("by default a timed-out attempt is retried, and the next attempt completes", async (t) => {
  const handle = await new D.TimeoutRetriedWorkflow().start(["retried"]);
  t.is(await handle.result(), "finished on attempt 2");
  const rows = await query("SELECT attempt, status FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY attempt", [handle.instanceId]);
  t.deepEqual(rows, [
    { attempt: 1, status: "timed_out" },
    { attempt: 2, status: "completed" },
  ]);
});

test.serial("a child that ignores its abort is killed after the grace period, and its late result is discarded", async (t) => {
  const killed = sup.waitFor(/killing a worker whose action ignored its abort/);
  t.is(await new D.StubbornWorkflow().run("stubborn"), "fresh result on attempt 2");
  await killed;
  const pid = Number(notes.lines("stubborn.txt")[0]!.split(" ")[2]);
  await sup.waitFor(new RegExp(`worker process died; replacing it pid=${pid}`));
  t.false(alive(pid), `the worker ${pid} that ignored its abort should be gone`);
});

test.serial("kill -9 of a child mid-action: the attempt fails at once and the next one completes the workflow", async (t) => {
  const started = Date.now();
  const handle = await new D.CrashWorkflow().start(["crash"]);
  const pidFile = path.join(notes.dir, "crash.pid");
  const pid = await until("the action's pid file", () => {
    try {
      return Number(readFileSync(pidFile, "utf8")) || undefined;
    } catch {
      return undefined;
    }
  });
  process.kill(pid, "SIGKILL");
  t.is(await handle.result(), "step one for crash / survived: attempt 2");
  // Well before the action's 120 s timeout: the death is noticed at once.
  t.true(Date.now() - started < 20_000);
  const rows = await query(
    "SELECT action_seq, attempt, status, error->>'name' AS error FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY action_seq, attempt",
    [handle.instanceId],
  );
  t.deepEqual(rows, [
    { action_seq: 1, attempt: 1, status: "completed", error: null },
    { action_seq: 2, attempt: 1, status: "timed_out", error: "ActionTimeout" },
    { action_seq: 2, attempt: 2, status: "completed", error: null },
  ]);
});

test.serial("a long sleep leaves memory and releases the lease, and the instance wakes on time", async (t) => {
  const started = Date.now();
  const handle = await new D.SleepWorkflow().start([1500]);
  const row = await waitForStatus(handle.instanceId, "sleeping");
  t.is(row.lease_owner, null);
  t.true(row.has_state as boolean);
  t.is(await handle.result(), "step one for sleep then slept 1500");
  t.true(Date.now() - started >= 1500);
});

test.serial("setTimeout from node:timers/promises is a durable sleep too, resolving to its value", async (t) => {
  t.is(await new D.TimersWorkflow().run(100), "woke up after 100");
});

test.serial("a backoff wait is durable: the instance sleeps in the database between attempts", async (t) => {
  const handle = await new D.LongBackoffWorkflow().start(["long-backoff"]);
  const row = await waitForStatus(handle.instanceId, "sleeping");
  t.is(row.lease_owner, null);
  t.is(await handle.result(), "ok after 2");
});

test.serial("a restart of every supervisor during a sleep: the instance wakes on time on the new one", async (t) => {
  const handle = await new D.SleepWorkflow().start([2500]);
  const row = await waitForStatus(handle.instanceId, "sleeping");
  const wakeAt = new Date(row.scheduled_at as string).getTime();
  t.is(await sup.stop(), 0);
  sup = await supervise({ databaseUrl: await dbUrl(), modules: ["test/fixtures/workflows/durable.ts"], env: ENV });
  t.is(await handle.result(), "step one for sleep then slept 2500");
  const [done] = await query("SELECT finished_at FROM waymark.instances WHERE id = $1", [handle.instanceId]);
  const late = new Date(done!.finished_at as string).getTime() - wakeAt;
  t.true(late >= 0 && late < 2000, `woke ${late} ms after its wake time`);
});
