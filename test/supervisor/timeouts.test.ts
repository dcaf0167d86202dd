import test from "ava";
import { close, WorkflowCancelledError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { query } from "../helpers/status.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

// One worker with one slot: every action but the first of a Promise.all waits in the child's queue.
const dbUrl = useTestDatabase(test);
const notes = notesDir();
let sup: SupervisorProcess;
let P: typeof import("../fixtures/workflows/pool.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/pool.ts"],
    env: { TEST_DIR: notes.dir, WAYMARK_WORKER_COUNT: "1", WAYMARK_CONCURRENT_PER_WORKER: "1" },
  });
  P = await import("../fixtures/workflows/pool.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

test("an action's timeout counts from when its child starts it, not while it waits for a slot", async (t) => {
  const handle = await new P.QueuedSteps().start([]);
  // 4 x 400 ms one after another: the last waits 1.2 s for its turn, past its 1 s timeout.
  t.deepEqual(await handle.result(), [1, 2, 3, 4]);
  const rows = await query(
    await dbUrl(),
    "SELECT action_seq, attempt, status, child_pid, started_at FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY started_at",
    [handle.instanceId],
  );
  t.deepEqual(
    rows.map((r) => [r.attempt, r.status]),
    [
      [1, "completed"],
      [1, "completed"],
      [1, "completed"],
      [1, "completed"],
    ],
  );
  // The recorded start is the start in the child: one after another, about 400 ms apart.
  const starts = rows.map((r) => (r.started_at as Date).getTime());
  t.true(starts[3]! - starts[0]! >= 1100, `started at +${starts.map((s) => s - starts[0]!).join(", +")} ms`);
  t.true(rows.every((r) => typeof r.child_pid === "number"));
});

test("cancelling an instance whose second action still waits for a slot: that action never starts", async (t) => {
  const handle = await new P.AbortableThenQueued().start(["queued-behind"]);
  await until("the first action to start", () => notes.lines("abortable.txt").includes("start queued-behind 1"));
  await handle.cancel();
  await t.throwsAsync(handle.result(), { instanceOf: WorkflowCancelledError });
  // The first heard its abort; the second settles at its turn without running.
  await until("the first action's clean-up", () => notes.lines("abortable.txt").includes("cleanup queued-behind 1"));
  t.is(await new P.FiveSteps().run(0, 0), 5);
  t.notRegex(sup.output(), /killing a worker|worker process died/, "the child was not killed for the queued action");
  t.false(
    notes.lines("slow.txt").some((l) => l.startsWith("start queued-behind")),
    "the queued action never started",
  );
  const rows = await query(
    await dbUrl(),
    "SELECT action_name, status, error->>'message' AS message FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY action_seq",
    [handle.instanceId],
  );
  t.deepEqual(
    rows.map((r) => [r.action_name, r.status]),
    [
      ["abortable", "cancelled"],
      ["slow", "cancelled"],
    ],
  );
  t.regex(rows[1]!.message, /waited to start/);
});
