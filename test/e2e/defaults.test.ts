import test from "ava";
import pg from "pg";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

/**
 * Workflow-wide action defaults (`retry`, `backoff`, `timeoutMs` instance properties) on a real
 * supervisor: they govern every action call, and a `runAction` option overrides its own field.
 */
const dbUrl = useTestDatabase(test);
const notes = notesDir();
const FIXTURE = "test/fixtures/workflows/defaults.ts";
let sup: SupervisorProcess;
let D: typeof import("../fixtures/workflows/defaults.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: { TEST_DIR: notes.dir, WAYMARK_ABORT_GRACE_MS: "300" } });
  D = await import("../fixtures/workflows/defaults.js");
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
      `SELECT action_seq, action_name, attempt, status, error->>'name' AS error, started_at, finished_at FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY action_seq, attempt`,
      [instanceId],
    );
    return rows as Array<{
      action_seq: number;
      action_name: string;
      attempt: number;
      status: string;
      error: string | null;
      started_at: Date;
      finished_at: Date;
    }>;
  } finally {
    await c.end();
  }
}

test("class-level retry, backoff and timeoutMs apply to every call unless runAction overrides them", async (t) => {
  const handle = await new D.DefaultsWorkflow().start(["d"]);
  t.deepEqual(await handle.result(), {
    retried: "d-retried ok on 3",
    timedOut: "ActionTimeout: slow did not finish within 400 ms (attempt 1)",
    overridden: "d-overridden ok on 5",
    patient: "d-patient took 800",
    exhausted: "d-exhausted try 3",
  });
  // Per call: attempts and outcomes as recorded.
  const rows = await attempts(handle.instanceId);
  const summary = rows.map((r) => `${r.action_name}#${r.attempt} ${r.status}${r.error ? ` ${r.error}` : ""}`);
  t.deepEqual(summary, [
    "shaky#1 failed NetworkError",
    "shaky#2 failed NetworkError",
    "shaky#3 completed",
    "slow#1 timed_out ActionTimeout",
    "shaky#1 failed NetworkError",
    "shaky#2 failed NetworkError",
    "shaky#3 failed NetworkError",
    "shaky#4 failed NetworkError",
    "shaky#5 completed",
    "slow#1 completed",
    "shaky#1 failed NetworkError",
    "shaky#2 failed NetworkError",
    "shaky#3 failed NetworkError",
  ]);
  // The default backoff (200 ms) separates retries, including those of the overridden call.
  const retries = rows.filter((r) => r.attempt > 1);
  for (const r of retries) {
    const previous = rows.find((p) => p.action_seq === r.action_seq && p.attempt === r.attempt - 1)!;
    const gap = r.started_at.getTime() - previous.finished_at.getTime();
    t.true(gap >= 190, `retry ${r.attempt} of call #${r.action_seq} (${r.action_name}) started ${gap} ms after the previous attempt`);
  }
  t.deepEqual(notes.lines("d-timeout.txt"), ["attempt 1"], "ActionTimeout is not in the default exceptionTypes: not retried");
});

test("defaults are inherited from a base class and may be plain objects", async (t) => {
  t.deepEqual(await new D.InheritedDefaultsWorkflow().run("i"), { first: "i-inherited ok on 2", error: "ActionTimeout" });
  // retry = { attempts: 2 } governs timeouts too: the 300 ms timeout was hit twice.
  t.deepEqual(notes.lines("i-inherited-timeout.txt"), ["attempt 1", "attempt 2"]);
});
