import test from "ava";
import { execa } from "execa";
import pg from "pg";
import { close, WorkflowCancelledError, WorkflowHandle } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { CLI, ROOT, supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

/**
 * Cancellation on a real supervisor: queued and sleeping instances are cancelled at once; a
 * running one has its in-flight actions' signals aborted, dispatches nothing new and ends
 * `cancelled`; a finished one is left as it is.
 */
const dbUrl = useTestDatabase(test);
const notes = notesDir();
const FIXTURE = "test/fixtures/workflows/control.ts";
let sup: SupervisorProcess;
let C: typeof import("../fixtures/workflows/control.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: { TEST_DIR: notes.dir, WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "300" } });
  C = await import("../fixtures/workflows/control.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

async function query<R = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as R[];
  } finally {
    await c.end();
  }
}

const statusIs = (id: string, status: string) => async () =>
  (await query<{ status: string }>("SELECT status FROM waymark.instances WHERE id = $1", [id]))[0]?.status === status ? true : undefined;

function waymark(args: string[]) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  return dbUrl().then((url) =>
    execa(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...inherited, WAYMARK_DATABASE_URL: url }, extendEnv: false, reject: false }),
  );
}

test("a queued instance is cancelled at once: result() rejects with WorkflowCancelledError and nothing ever runs", async (t) => {
  const handle = await new C.MarkWorkflow().start(["queued", "ran"], { delayMs: 60_000 });
  t.is(await handle.status(), "queued");
  const started = Date.now();
  await handle.cancel();
  t.is(await handle.status(), "cancelled");
  const e = await t.throwsAsync(handle.result(), { instanceOf: WorkflowCancelledError });
  t.is(e!.instanceId, handle.instanceId);
  t.is(e!.workflowName, "MarkWorkflow");
  t.is(e!.code, "WAYMARK_WORKFLOW_CANCELLED");
  t.regex(e!.message, /workflow MarkWorkflow \(instance [0-9a-f-]{36}\) was cancelled/);
  t.true(Date.now() - started < 5_000);
  const [row] = await query("SELECT finished_at IS NOT NULL AS finished, state, error->>'name' AS error FROM waymark.instances WHERE id = $1", [
    handle.instanceId,
  ]);
  t.deepEqual(row, { finished: true, state: null, error: "WorkflowCancelledError" });
  t.deepEqual(notes.lines("queued.txt"), []);
});

test("a sleeping instance is cancelled at once and never wakes", async (t) => {
  const handle = await new C.SleeperWorkflow().start(["sleeping", 60_000]);
  await until("the instance to sleep", statusIs(handle.instanceId, "sleeping"));
  await handle.cancel();
  t.is(await handle.status(), "cancelled");
  await t.throwsAsync(handle.result(), { instanceOf: WorkflowCancelledError });
  t.deepEqual(
    notes.lines("sleeping.txt").map((l) => l.replace(/ \d+$/, "")),
    ["before the sleep"],
  );
});

test("a running instance: its action sees the abort, nothing new is dispatched, it ends cancelled and run() rejects", async (t) => {
  const running = new C.CancellableWorkflow().run("running");
  const rejected = t.throwsAsync(running, { instanceOf: WorkflowCancelledError });
  await until("the action to start", () => (notes.lines("running.txt").includes("started") ? true : undefined));
  const [{ id }] = await query<{ id: string }>(
    "SELECT id::text AS id FROM waymark.instances WHERE workflow_name = 'CancellableWorkflow' AND args->>0 = 'running'",
  );
  const handle = new WorkflowHandle(id!, "CancellableWorkflow");
  t.is(await handle.status(), "running");
  await handle.cancel();
  const e = await rejected;
  t.is(e!.instanceId, id);
  t.is(await handle.status(), "cancelled");
  // The action observed its signal's abort, with the reason.
  const lines = await until("the abort to be noted", () => (notes.lines("running.txt").length >= 2 ? notes.lines("running.txt") : undefined));
  t.regex(lines[1]!, /^aborted AbortError reason=.*cancel/i);
  // The failure the abort caused reaches no workflow code: the catch block's action never runs.
  // (A whole instance run through the same supervisor and children after the abort: a wrongly
  // dispatched action would have been noted by now.)
  await sup.waitFor(new RegExp(`instance cancelled instance=${id} abortedActions=1`));
  t.is(await new C.MarkWorkflow().run("barrier", "after"), "after");
  t.false(notes.lines("running.txt").some((l) => l.startsWith("after the abort") || l.startsWith("next step")));
  const [row] = await query("SELECT status, error->>'name' AS error, lease_owner FROM waymark.instances WHERE id = $1", [id]);
  t.deepEqual(row, { status: "cancelled", error: "WorkflowCancelledError", lease_owner: null });
});

test("cancelling a finished instance changes nothing", async (t) => {
  const handle = await new C.MarkWorkflow().start(["finished", "done"]);
  t.is(await handle.result(), "done");
  const before = await query("SELECT status, result, error, finished_at FROM waymark.instances WHERE id = $1", [handle.instanceId]);
  await handle.cancel();
  t.is(await handle.status(), "completed");
  t.is(await handle.result(), "done");
  t.deepEqual(await query("SELECT status, result, error, finished_at FROM waymark.instances WHERE id = $1", [handle.instanceId]), before);
});

test("waymark instances cancel <id> cancels, and says what it did", async (t) => {
  const sleeping = await new C.SleeperWorkflow().start(["cli", 60_000]);
  await until("the instance to sleep", statusIs(sleeping.instanceId, "sleeping"));
  const r = await waymark(["instances", "cancel", sleeping.instanceId]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout.trim(), `cancelled ${sleeping.instanceId} (it was sleeping)`);
  await t.throwsAsync(sleeping.result(), { instanceOf: WorkflowCancelledError });

  const again = await waymark(["instances", "cancel", sleeping.instanceId]);
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout.trim(), `${sleeping.instanceId} had already finished (cancelled); nothing changed`);

  const running = await new C.CancellableWorkflow().start(["cli-running"]);
  await until("the action to start", () => (notes.lines("cli-running.txt").includes("started") ? true : undefined));
  const req = await waymark(["instances", "cancel", running.instanceId]);
  t.is(req.exitCode, 0, req.stderr);
  t.is(req.stdout.trim(), `cancellation requested: ${running.instanceId} is running; its supervisor aborts it`);
  await t.throwsAsync(running.result(), { instanceOf: WorkflowCancelledError });

  const missing = await waymark(["instances", "cancel", "00000000-0000-7000-8000-000000000000"]);
  t.is(missing.exitCode, 1);
  t.regex(missing.stderr, /no workflow instance 00000000-0000-7000-8000-000000000000/);
});
