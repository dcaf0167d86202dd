import test, { type ExecutionContext } from "ava";
import pg from "pg";
import { instanceClaim, instanceHeartbeat, instanceReclaimExpired, instancesCollect, instancesPersist } from "../../store/engine.js";
import { instanceCancel, instanceInsert, instanceInsertMany, instanceGet } from "../../store/instances.js";
import { CHANNELS } from "../../store/db.js";
import { versionLatest, versionUpsert } from "../../store/versions.js";
import { uuidv7 } from "../../core/ids.js";
import { testDatabase } from "../helpers/db.js";

async function setup(t: ExecutionContext) {
  const db = await testDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  t.teardown(async () => {
    await pool.end();
    await db.drop();
  });
  const versionId = await versionUpsert(pool, { name: "W", hash: "h1", ir: { format: 2, name: "W", fns: [] } as never });
  const queue = async (n: number, extra: { priority?: number; delayMs?: number } = {}) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await instanceInsert(pool, { id: uuidv7(), workflowName: "W", versionId, args: [i], ...extra })).id);
    return ids;
  };
  return { pool, versionId, queue };
}

test("claims take each runnable instance once across concurrent claimers, by priority then age", async (t) => {
  const { pool, queue } = await setup(t);
  const low = await queue(30);
  const high = await queue(5, { priority: 10 });
  await queue(3, { delayMs: 60_000 });
  const first = await instanceClaim(pool, { owner: "a", limit: 5, leaseMs: 10_000 });
  t.deepEqual(first.map((c) => c.id).sort(), [...high].sort());
  const [x, y] = await Promise.all([
    instanceClaim(pool, { owner: "b", limit: 20, leaseMs: 10_000 }),
    instanceClaim(pool, { owner: "c", limit: 20, leaseMs: 10_000 }),
  ]);
  const got = [...x, ...y].map((c) => c.id);
  t.is(new Set(got).size, got.length);
  t.deepEqual([...got].sort(), [...low].sort());
  t.deepEqual(await instanceClaim(pool, { owner: "d", limit: 10, leaseMs: 10_000 }), []);
});

test("a write guarded by a stale lease changes nothing and reports the instance as lost", async (t) => {
  const { pool, queue } = await setup(t);
  const [id] = await queue(1);
  const [claimA] = await instanceClaim(pool, { owner: "a", limit: 1, leaseMs: 1 });
  t.is(claimA!.id, id);
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(await instanceReclaimExpired(pool, { limit: 10 }), { requeued: 1, failed: [] });
  const [claimB] = await instanceClaim(pool, { owner: "b", limit: 1, leaseMs: 10_000 });
  t.is(claimB!.epoch, claimA!.epoch + 1);
  // The old owner's write is refused, the new owner's lands.
  const stale = await instancesPersist(pool, {
    owner: "a",
    instances: [{ id: id!, epoch: claimA!.epoch, status: "completed", state: null, result: "stale" }],
    attempts: [],
  });
  t.is(stale.size, 0);
  const fresh = await instancesPersist(pool, {
    owner: "b",
    instances: [{ id: id!, epoch: claimB!.epoch, status: "completed", state: null, result: "fresh" }],
    attempts: [],
  });
  t.deepEqual([...fresh], [id]);
  const row = await instanceGet(pool, { id: id! });
  t.is(row!.status, "completed");
  t.is(row!.result, "fresh");
  t.is(row!.leaseOwner, null);
});

test("the heartbeat extends the leases of the instances this owner holds, and reports which it still owns", async (t) => {
  const { pool, queue } = await setup(t);
  await queue(4);
  const claimed = (await instanceClaim(pool, { owner: "a", limit: 4, leaseMs: 50 })).map((c) => c.id);
  // The fourth is owned but no longer held in memory (dropped after an error): not renewed.
  const held = claimed.slice(0, 3);
  const { owned } = await instanceHeartbeat(pool, { owner: "a", leaseMs: 60_000, ids: held });
  t.deepEqual([...owned].sort(), [...held].sort());
  await new Promise((r) => setTimeout(r, 80));
  // Its lease expires and the reclaimer puts it back in the queue; the held ones stay.
  t.deepEqual(await instanceReclaimExpired(pool, { limit: 10 }), { requeued: 1, failed: [] });
  t.is((await instanceGet(pool, { id: claimed[3]! }))!.status, "queued");
  t.is((await instanceHeartbeat(pool, { owner: "b", leaseMs: 60_000, ids: held })).owned.size, 0);
});

test("a cancellation requested while the owner writes the instance to sleep ends it cancelled, and its caller hears it", async (t) => {
  const { pool, queue } = await setup(t);
  const [id] = await queue(1);
  const [claim] = await instanceClaim(pool, { owner: "a", limit: 1, leaseMs: 60_000 });
  const listener = new pg.Client({ connectionString: (pool as unknown as { options: { connectionString: string } }).options.connectionString });
  await listener.connect();
  t.teardown(() => listener.end());
  const heard = new Promise<string>((resolve) => listener.on("notification", (n) => n.channel === CHANNELS.done && resolve(n.payload ?? "")));
  await listener.query(`LISTEN ${CHANNELS.done}`);
  // The row is running: the cancel only flags it, for its owner to act on.
  t.is(await instanceCancel(pool, { id: id!, error: { $w: "err", name: "WorkflowCancelledError", message: "by the caller" } as never }), "running");
  // The owner, not yet aware, writes the instance to a long sleep.
  const cancelError = { $w: "err", name: "WorkflowCancelledError", message: "cancelled while going to sleep" } as never;
  const written = await instancesPersist(pool, {
    owner: "a",
    instances: [{ id: id!, epoch: claim!.epoch, status: "sleeping", state: "{}", scheduledAt: new Date(Date.now() + 3_600_000), cancelError }],
    attempts: [],
  });
  t.deepEqual([...written], [id]);
  const row = await instanceGet(pool, { id: id! });
  t.is(row!.status, "cancelled");
  t.is((row!.error as { name: string }).name, "WorkflowCancelledError");
  t.not(row!.finishedAt, null);
  t.is(await heard, id);
});

test("an idempotency key returns the first instance", async (t) => {
  const { pool, versionId } = await setup(t);
  const a = await instanceInsert(pool, { id: uuidv7(), workflowName: "W", versionId, args: [], idempotencyKey: "k" });
  const b = await instanceInsert(pool, { id: uuidv7(), workflowName: "W", versionId, args: [], idempotencyKey: "k" });
  t.true(a.inserted);
  t.false(b.inserted);
  t.is(b.id, a.id);
});

test("queueing the same id again (a retry after a lost reply) finds the row instead of queueing twice", async (t) => {
  const { pool, versionId } = await setup(t);
  const id = uuidv7();
  t.deepEqual(await instanceInsert(pool, { id, workflowName: "W", versionId, args: [1] }), { id, inserted: true });
  t.deepEqual(await instanceInsert(pool, { id, workflowName: "W", versionId, args: [1] }), { id, inserted: false });
  const ids = [uuidv7(), uuidv7()];
  await instanceInsertMany(pool, { workflowName: "W", versionId, ids, args: [[2], [3]] });
  await instanceInsertMany(pool, { workflowName: "W", versionId, ids, args: [[2], [3]] });
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM waymark.instances");
  t.is(rows[0].n, 3);
});

test("the latest version: a new body, or one registered with latest; an old app starting an instance changes nothing", async (t) => {
  const { pool, versionId: v1 } = await setup(t);
  const ir = { format: 2, name: "W", fns: [] } as never;
  const v2 = await versionUpsert(pool, { name: "W", hash: "h2", ir });
  t.is((await versionLatest(pool, { name: "W" }))?.id, v2, "a body never seen before is the latest");
  // An old replica, still running during a rolling deploy, starts an instance of v1.
  t.is(await versionUpsert(pool, { name: "W", hash: "h1", ir }), v1);
  t.is((await versionLatest(pool, { name: "W" }))?.id, v2);
  // The old code deployed again: its supervisors register v1 as the latest.
  t.is(await versionUpsert(pool, { name: "W", hash: "h1", ir, latest: true }), v1);
  t.is((await versionLatest(pool, { name: "W" }))?.id, v1);
});

test("the garbage collector deletes instances finished before the retention window, with their attempts, one collector at a time", async (t) => {
  const { pool, queue } = await setup(t);
  const [old, recent, running] = await queue(3);
  await pool.query(`UPDATE waymark.instances SET status = 'completed', finished_at = now() - interval '48 hours' WHERE id = $1`, [old]);
  await pool.query(`UPDATE waymark.instances SET status = 'failed', finished_at = now() - interval '1 hour' WHERE id = $1`, [recent]);
  await pool.query(`UPDATE waymark.instances SET status = 'running' WHERE id = $1`, [running]);
  for (const id of [old, recent]) {
    await pool.query(
      `INSERT INTO waymark.action_attempts (instance_id, action_seq, attempt, node_id, action_name, status, started_at) VALUES ($1, 0, 1, 'n', 'a', 'completed', now())`,
      [id],
    );
  }
  // Another collector holds the lock: this one does nothing.
  const other = await pool.connect();
  await other.query("BEGIN");
  await other.query("SELECT pg_advisory_xact_lock($1)", [0x7761796e]);
  t.is(await instancesCollect(pool, { retentionHours: 24, limit: 100 }), -1);
  await other.query("COMMIT");
  other.release();
  t.is(await instancesCollect(pool, { retentionHours: 24, limit: 100 }), 1);
  const left = await pool.query(`SELECT id::text FROM waymark.instances ORDER BY id`);
  t.deepEqual(left.rows.map((r) => r.id).sort(), [recent, running].sort());
  const attempts = await pool.query(`SELECT instance_id::text AS id FROM waymark.action_attempts`);
  t.deepEqual(
    attempts.rows.map((r) => r.id),
    [recent],
  );
});

test("crash-loop quarantine: each expired lease counts a death in a row, written progress clears them, one death before the limit isolates, and the last fails the instance with CrashLoopError", async (t) => {
  const { pool, queue } = await setup(t);
  const [killer] = await queue(1);
  const [innocent] = await queue(1, { priority: 5 });
  const expire = async () => {
    await pool.query("UPDATE waymark.instances SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'");
    return instanceReclaimExpired(pool, { limit: 10, crashLoopLimit: 3 });
  };
  const row = async (id: string) =>
    (await pool.query("SELECT lease_losses, isolated FROM waymark.instances WHERE id = $1", [id])).rows[0] as { lease_losses: number; isolated: boolean };
  // First death (both held): counted, not isolated; a first death is recovered in parallel.
  await instanceClaim(pool, { owner: "a", limit: 2, leaseMs: 60_000 });
  t.deepEqual(await expire(), { requeued: 2, failed: [] });
  t.deepEqual(await row(killer!), { lease_losses: 1, isolated: false });
  const both = await instanceClaim(pool, { owner: "b", limit: 10, leaseMs: 60_000, isolated: 0 });
  t.is(both.length, 2);
  // Second death (both held again): one more would fail them, so they are isolated.
  t.deepEqual(await expire(), { requeued: 2, failed: [] });
  t.deepEqual(await row(innocent!), { lease_losses: 2, isolated: true });
  // Isolated ones are taken one at a time, and not at all when the claimer says so.
  t.deepEqual(await instanceClaim(pool, { owner: "c", limit: 10, leaseMs: 60_000, isolated: 0 }), []);
  const [inn, ...more] = await instanceClaim(pool, { owner: "c", limit: 10, leaseMs: 60_000, isolated: 1 });
  t.deepEqual(more, []);
  t.like(inn, { id: innocent, leaseLosses: 2, isolated: true });
  // A write with no progress in it keeps the count; progress clears it, and the isolation.
  await instancesPersist(pool, { owner: "c", instances: [{ id: inn!.id, epoch: inn!.epoch, status: "running" }], attempts: [] });
  t.deepEqual(await row(innocent!), { lease_losses: 2, isolated: true });
  t.deepEqual(
    [...(await instancesPersist(pool, { owner: "c", instances: [{ id: inn!.id, epoch: inn!.epoch, status: "running", state: "{}" }], attempts: [] }))],
    [innocent],
  );
  t.deepEqual(await row(innocent!), { lease_losses: 0, isolated: false });
  t.deepEqual(
    [...(await instancesPersist(pool, { owner: "c", instances: [{ id: inn!.id, epoch: inn!.epoch, status: "completed", state: null }], attempts: [] }))],
    [innocent],
  );
  // The killer, alone, kills its supervisor a third time: it fails.
  const [k] = await instanceClaim(pool, { owner: "d", limit: 10, leaseMs: 60_000, isolated: 1 });
  t.like(k, { id: killer, leaseLosses: 2, isolated: true });
  t.deepEqual(await expire(), { requeued: 0, failed: [killer] });
  const failed = (
    await pool.query(
      "SELECT status, lease_losses, isolated, state, finished_at IS NOT NULL AS finished, error->>'name' AS name, error->>'message' AS message FROM waymark.instances WHERE id = $1",
      [killer],
    )
  ).rows[0];
  t.like(failed, { status: "failed", lease_losses: 3, isolated: false, state: null, finished: true, name: "CrashLoopError" });
  t.regex(failed.message, /^its supervisor died 3 times in a row while running it \(the limit, WAYMARK_CRASH_LOOP_LIMIT\)/);
});

test("with WAYMARK_CRASH_LOOP_LIMIT 0 an instance is requeued however often its supervisor dies", async (t) => {
  const { pool, queue } = await setup(t);
  await queue(1);
  for (let i = 0; i < 5; i++) {
    await instanceClaim(pool, { owner: "a", limit: 1, leaseMs: 60_000 });
    await pool.query("UPDATE waymark.instances SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'");
    t.deepEqual(await instanceReclaimExpired(pool, { limit: 10, crashLoopLimit: 0 }), { requeued: 1, failed: [] });
  }
});
