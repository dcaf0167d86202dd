import test from "ava";
import pg from "pg";
import { close, WaymarkError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

/** `start(args, options)`: idempotency keys, the caller's transaction, and delays. */
const dbUrl = useTestDatabase(test);
const notes = notesDir();
const FIXTURE = "test/fixtures/workflows/control.ts";
let sup: SupervisorProcess;
let C: typeof import("../fixtures/workflows/control.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: { TEST_DIR: notes.dir, WAYMARK_POLL_INTERVAL_MS: "50" } });
  C = await import("../fixtures/workflows/control.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  return c;
}

async function query<R = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = await client();
  try {
    return (await c.query(text, params)).rows as R[];
  } finally {
    await c.end();
  }
}

const labels = (key: string) => notes.lines(`${key}.txt`).map((l) => l.replace(/ \d+$/, ""));

test("the same idempotency key returns the same instance, which runs once", async (t) => {
  const first = await new C.MarkWorkflow().start(["idem", "once"], { idempotencyKey: "order:42" });
  const second = await new C.MarkWorkflow().start(["idem", "twice"], { idempotencyKey: "order:42" });
  t.is(second.instanceId, first.instanceId);
  // Concurrent starts with one key agree too.
  const racing = await Promise.all(Array.from({ length: 5 }, (_, i) => new C.MarkWorkflow().start(["idem-race", `race ${i}`], { idempotencyKey: "order:43" })));
  t.is(new Set(racing.map((h) => h.instanceId)).size, 1);
  t.is(await first.result(), "once");
  t.is(await second.result(), "once", "the second start's arguments are ignored: it is the first instance");
  await racing[0]!.result();
  // A start after completion still returns the finished instance (and its result).
  const late = await new C.MarkWorkflow().start(["idem", "late"], { idempotencyKey: "order:42" });
  t.is(late.instanceId, first.instanceId);
  t.is(await late.result(), "once");
  t.deepEqual(labels("idem"), ["once"]);
  t.is(labels("idem-race").length, 1);
  const [{ n }] = await query<{ n: number }>("SELECT count(*)::int AS n FROM waymark.instances WHERE idempotency_key IN ('order:42', 'order:43')");
  t.is(n, 2);
});

test("an idempotency key is per workflow: another workflow with the same key is another instance", async (t) => {
  const a = await new C.MarkWorkflow().start(["idem-per-workflow", "mark"], { idempotencyKey: "shared-key" });
  const b = await new C.OtherMarkWorkflow().start(["idem-per-workflow", "mark"], { idempotencyKey: "shared-key" });
  t.not(a.instanceId, b.instanceId);
  t.is(await a.result(), "mark");
  t.is(await b.result(), "other mark");
});

test("start({ client }) inside a transaction that rolls back: no row, never runs", async (t) => {
  const c = await client();
  try {
    await c.query("BEGIN");
    const handle = await new C.MarkWorkflow().start(["tx-rollback", "ran"], { client: c });
    // Inside the transaction the row exists; outside it does not (yet).
    t.is((await c.query("SELECT status FROM waymark.instances WHERE id = $1", [handle.instanceId])).rows[0]?.status, "queued");
    const outside = await t.throwsAsync(handle.status(), { instanceOf: WaymarkError });
    t.regex(outside!.message, /no workflow instance/);
    await c.query("ROLLBACK");
    t.deepEqual(await query("SELECT id FROM waymark.instances WHERE id = $1", [handle.instanceId]), []);
    // Waiting for it is an error at once, not a wait that never ends.
    const never = await t.throwsAsync(handle.result(), { instanceOf: WaymarkError });
    t.is(never!.code, "WAYMARK_NOT_FOUND");
    t.regex(never!.message, /no workflow instance .*: it was never queued, its transaction rolled back/);
  } finally {
    await c.end();
  }
  // A barrier: an instance queued after the rollback has run, so a leaked one would have too.
  t.is(await new C.MarkWorkflow().run("tx-barrier", "after"), "after");
  t.deepEqual(labels("tx-rollback"), []);
});

test("start({ client }) inside a transaction that commits: queued at the commit, then runs", async (t) => {
  const c = await client();
  let id: string;
  let handle: Awaited<ReturnType<InstanceType<typeof C.MarkWorkflow>["start"]>>;
  try {
    await c.query("BEGIN");
    handle = await new C.MarkWorkflow().start(["tx-commit", "committed"], { client: c });
    id = handle.instanceId;
    // Other work of the same transaction, committed together with the instance.
    await c.query("SELECT pg_advisory_xact_lock(42)");
    t.deepEqual(await query("SELECT id FROM waymark.instances WHERE id = $1", [id]), []);
    await c.query("COMMIT");
  } finally {
    await c.end();
  }
  t.is(await handle.result(), "committed");
  t.deepEqual(labels("tx-commit"), ["committed"]);
});

test("delayMs: the instance is queued at once but does not start before the delay", async (t) => {
  const handle = await new C.MarkWorkflow().start(["delayed", "late"], { delayMs: 1500 });
  t.is(await handle.status(), "queued");
  t.is(await handle.result(), "late");
  const [row] = await query<{ created_at: Date; started_at: Date; action_at: Date }>(
    `SELECT i.created_at, i.started_at, a.started_at AS action_at FROM waymark.instances i
       JOIN waymark.action_attempts a ON a.instance_id = i.id WHERE i.id = $1`,
    [handle.instanceId],
  );
  const waited = row!.started_at.getTime() - row!.created_at.getTime();
  t.true(waited >= 1500, `started ${waited} ms after it was queued`);
  t.true(row!.action_at.getTime() - row!.created_at.getTime() >= 1500);
});

test("bad start options fail before anything is queued", async (t) => {
  await t.throwsAsync(new C.MarkWorkflow().start(["bad", "x"], { priority: 1.5 }), { instanceOf: TypeError, message: /priority must be an integer, got 1.5/ });
  await t.throwsAsync(new C.MarkWorkflow().start(["bad", "x"], { delayMs: -1 }), { instanceOf: TypeError, message: /delayMs must be a number >= 0, got -1/ });
  // Postgres cannot store a NUL in text: said before it is asked.
  await t.throwsAsync(new C.MarkWorkflow().start(["bad", "x"], { idempotencyKey: "a\u0000b" }), {
    instanceOf: TypeError,
    message: /idempotencyKey must be a non-empty string of at most 1000 characters without NUL/,
  });
  await t.throwsAsync(new C.MarkWorkflow().start(["bad", "x"], { idempotencyKey: "" }), {
    instanceOf: TypeError,
    message: /idempotencyKey must be a non-empty string/,
  });
  t.deepEqual(await query("SELECT id FROM waymark.instances WHERE args->>0 = 'bad'"), []);
});
