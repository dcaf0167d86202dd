import test from "ava";
import pg from "pg";
import { close, WorkflowFailedError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);
const notes = notesDir();
let sup: SupervisorProcess;
let D: typeof import("../fixtures/workflows/durable.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({ databaseUrl: await dbUrl(), modules: ["test/fixtures/workflows/durable.ts"], env: { TEST_DIR: notes.dir } });
  D = await import("../fixtures/workflows/durable.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

async function attempts(instanceId: string) {
  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  try {
    const { rows } = await c.query(
      `SELECT action_seq, attempt, status, error->>'name' AS error, started_at, finished_at FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY action_seq, attempt`,
      [instanceId],
    );
    return rows as Array<{ action_seq: number; attempt: number; status: string; error: string | null; started_at: Date; finished_at: Date }>;
  } finally {
    await c.end();
  }
}

test("a RetryPolicy retries the listed error names; attempts count executions; every attempt is recorded", async (t) => {
  const handle = await new D.RetryWorkflow().start(["net", 3, "NetworkError", 5]);
  t.is(await handle.result(), "ok after 3");
  const rows = await attempts(handle.instanceId);
  t.deepEqual(
    rows.map((r) => [r.attempt, r.status, r.error]),
    [
      [1, "failed", "NetworkError"],
      [2, "failed", "NetworkError"],
      [3, "completed", null],
    ],
  );
  // actionId is the same across attempts.
  const ids = new Set(notes.lines("net.txt").map((l) => l.split(" ")[1]));
  t.is(ids.size, 1);
});

test("backoff between attempts is durable and measured from the recorded attempts: base 100 ms, doubling", async (t) => {
  const handle = await new D.RetryWorkflow().start(["backoff", 4, "NetworkError", 4]);
  t.is(await handle.result(), "ok after 4");
  const rows = await attempts(handle.instanceId);
  t.is(rows.length, 4);
  const gaps = rows.slice(1).map((r, i) => r.started_at.getTime() - rows[i]!.finished_at.getTime());
  // delay before retry n = 100 * 2^(n-1): 100, 200, 400 ms (a little more with dispatch).
  t.true(gaps[0]! >= 95, `gap 1 was ${gaps[0]} ms`);
  t.true(gaps[1]! >= 195, `gap 2 was ${gaps[1]} ms`);
  t.true(gaps[2]! >= 395, `gap 3 was ${gaps[2]} ms`);
});

test("attempts are capped: after the last one the error fails the instance", async (t) => {
  const e = await t.throwsAsync(new D.RetryWorkflow().run("capped", 10, "NetworkError", 2), { instanceOf: WorkflowFailedError });
  t.is(e!.errorName, "NetworkError");
  t.is(e!.errorMessage, "try 2");
  t.is(notes.lines("capped.txt").length, 2);
});

test("an error not in exceptionTypes is not retried", async (t) => {
  const e = await t.throwsAsync(new D.RetryWorkflow().run("valueerr", 3, "ValueError", 5), { instanceOf: WorkflowFailedError });
  t.is(e!.errorName, "ValueError");
  t.is(notes.lines("valueerr.txt").length, 1);
});

test("by default an explicit error is not retried", async (t) => {
  const e = await t.throwsAsync(new D.NoRetryWorkflow().run("noretry"), { instanceOf: WorkflowFailedError });
  t.is(e!.errorMessage, "try 1");
  t.is(notes.lines("noretry.txt").length, 1);
});

test("a plain-object retry option works like RetryPolicy and retries every error", async (t) => {
  t.is(await new D.PlainRetryWorkflow().run("plain"), "ok after 3");
});

test("an action's error reaches catch (e) with its name, message and stack", async (t) => {
  t.deepEqual(await new D.CatchWorkflow().run("caught"), { name: "NetworkError", message: "try 1", isError: true, hasStack: true });
});

test("actionContext gives the instance, the call and the attempt; depends() resolves once and cleans up, even when the action throws", async (t) => {
  const handle = await new D.DepsWorkflow().start([false]);
  const out = (await handle.result()) as Record<string, unknown>;
  t.deepEqual(out, { same: true, out: "result of select 1", instanceId: handle.instanceId, actionId: "1", attempt: 1, aborted: false });
  await t.throwsAsync(new D.DepsWorkflow().run(true), { instanceOf: WorkflowFailedError, message: /failed after using its connection/ });
  t.deepEqual(notes.lines("deps.txt"), ["open", "close", "open", "close"]);
});
