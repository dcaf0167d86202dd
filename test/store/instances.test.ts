import test from "ava";
import { instanceInsert, instanceInsertMany, instanceList, instancesCollect, queueDepth, type InstanceStatus } from "../../store/instances.js";
import { workerStatusUpsert } from "../../store/workers.js";
import { uuidv7 } from "../../core/ids.js";
import { storeSetup } from "../helpers/store.js";

test("an idempotency key returns the first instance", async (t) => {
  const { pool, versionId } = await storeSetup(t);
  const a = await instanceInsert(pool, { id: uuidv7(), workflowName: "W", versionId, args: [], idempotencyKey: "k" });
  const b = await instanceInsert(pool, { id: uuidv7(), workflowName: "W", versionId, args: [], idempotencyKey: "k" });
  t.true(a.inserted);
  t.false(b.inserted);
  t.is(b.id, a.id);
});

test("queueing the same id again (a retry after a lost reply) finds the row instead of queueing twice", async (t) => {
  const { pool, versionId } = await storeSetup(t);
  const id = uuidv7();
  t.deepEqual(await instanceInsert(pool, { id, workflowName: "W", versionId, args: [1] }), { id, inserted: true });
  t.deepEqual(await instanceInsert(pool, { id, workflowName: "W", versionId, args: [1] }), { id, inserted: false });
  const ids = [uuidv7(), uuidv7()];
  await instanceInsertMany(pool, { workflowName: "W", versionId, ids, args: [[2], [3]] });
  await instanceInsertMany(pool, { workflowName: "W", versionId, ids, args: [[2], [3]] });
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM waymark.instances");
  t.is(rows[0].n, 3);
});

test("the garbage collector deletes instances finished before the retention window, with their attempts, one collector at a time", async (t) => {
  const { pool, queue } = await storeSetup(t);
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

test("queue depth is counted by one supervisor: the one whose status row was published first among the live ones", async (t) => {
  const { pool, queue } = await storeSetup(t);
  await queue(3);
  await workerStatusUpsert(pool, { owner: "first", hostname: "h", pid: 1, startedAt: new Date(Date.now() - 60_000), stats: {} });
  await workerStatusUpsert(pool, { owner: "second", hostname: "h", pid: 2, startedAt: new Date(), stats: {} });
  t.deepEqual(await queueDepth(pool, { owner: "first" }), [{ workflow: "W", status: "queued", count: 3 }]);
  t.deepEqual(await queueDepth(pool, { owner: "second" }), [], "the others count nothing");
});

test("instances list newest first across every status (each kept in its own creation-order index), filtered and paged", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const ids = await queue(24);
  const statuses: InstanceStatus[] = ["queued", "running", "sleeping", "completed", "failed", "cancelled"];
  // Every status, in interleaved creation times; pairs share a created_at (ties go by id).
  for (const [n, id] of ids.entries())
    await pool.query("UPDATE waymark.instances SET status = $2, created_at = timestamptz '2026-01-01' + ($3::int / 2) * interval '1 second' WHERE id = $1", [
      id,
      statuses[n % statuses.length],
      n,
    ]);
  const expected = async (where = "") =>
    (await pool.query(`SELECT id::text FROM waymark.instances ${where} ORDER BY created_at DESC, id DESC`)).rows.map((r) => r.id as string);
  t.deepEqual(
    (await instanceList(pool, { limit: 100 })).map((r) => r.id),
    await expected(),
  );
  // Page by page, five at a time: every instance once, in order.
  const paged: string[] = [];
  for (let page = await instanceList(pool, { limit: 5 }); page.length; ) {
    paged.push(...page.map((r) => r.id));
    const last = page.at(-1)!;
    page = await instanceList(pool, { limit: 5, before: { createdAt: last.createdAt, id: last.id } });
  }
  t.deepEqual(paged, await expected());
  for (const status of statuses)
    t.deepEqual(
      (await instanceList(pool, { status, limit: 100 })).map((r) => r.id),
      await expected(`WHERE status = '${status}'`),
      status,
    );
});
