import test from "ava";
import { close, WorkflowCancelledError, WorkflowFailedError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { query } from "../helpers/status.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);
const notes = notesDir();
let sup: SupervisorProcess;
let P: typeof import("../fixtures/workflows/pool.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/pool.ts"],
    env: { TEST_DIR: notes.dir, WAYMARK_ABORT_GRACE_MS: "300" },
  });
  P = await import("../fixtures/workflows/pool.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

test("a workflow whose state cannot be stored fails on its own; the supervisor keeps running", async (t) => {
  const e = await t.throwsAsync(new P.UnstorableState().run(), { instanceOf: WorkflowFailedError });
  t.regex(e!.errorMessage, /the workflow's state cannot be stored/);
  t.regex(e!.errorMessage, /instance of String/);
  t.is(await new P.FiveSteps().run(0, 0), 5);
});

test("cancelling an action that ignores its abort: the attempt is recorded as cancelled and its child is killed after the grace period", async (t) => {
  const handle = await new P.DeafWorkflow().start(["deaf"]);
  await until("the action to start", () => notes.lines("deaf.txt").length > 0);
  const pid = Number(notes.lines("deaf.txt")[0]!.split(" ")[2]);
  const killed = sup.waitFor(new RegExp(`killing a worker whose action ignored its abort pid=${pid}`));
  await handle.cancel();
  await t.throwsAsync(handle.result(), { instanceOf: WorkflowCancelledError });
  await killed;
  const rows = await query(await dbUrl(), "SELECT status, error->>'name' AS name FROM waymark.action_attempts WHERE instance_id = $1", [handle.instanceId]);
  t.deepEqual(rows, [{ status: "cancelled", name: "WorkflowCancelledError" }]);
});

test("Promise.all dispatches its branches at once: all three start before any finishes, and results come back in order", async (t) => {
  t.deepEqual(await new P.ThreeAtOnce().run("par"), ["par-a done", "par-b done", "par-c done"]);
  const lines = notes.lines("slow.txt").filter((l) => / par-[abc]\b/.test(l));
  const firstEnd = lines.findIndex((l) => l.startsWith("end "));
  t.is(lines.slice(0, firstEnd).filter((l) => l.startsWith("start ")).length, 3, lines.join("\n"));
});
