import test from "ava";
import { instanceClaim, instanceHeartbeat, instanceReclaimExpired } from "../../store/leases.js";
import { instancesPersist } from "../../store/progress.js";
import { instanceGet } from "../../store/instances.js";
import { storeSetup } from "../helpers/store.js";

test("claims take each runnable instance once across concurrent claimers, by priority then age", async (t) => {
  const { pool, queue } = await storeSetup(t);
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

test("the heartbeat extends the leases of the instances this owner holds, and reports which it still owns", async (t) => {
  const { pool, queue } = await storeSetup(t);
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

test("crash-loop quarantine: each expired lease counts a death in a row, written progress clears them, one death before the limit isolates, and the last fails the instance with CrashLoopError", async (t) => {
  const { pool, queue } = await storeSetup(t);
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
    [...(await instancesPersist(pool, { owner: "c", instances: [{ id: inn!.id, epoch: inn!.epoch, status: "running", state: "{}" }], attempts: [] })).keys()],
    [innocent],
  );
  t.deepEqual(await row(innocent!), { lease_losses: 0, isolated: false });
  t.deepEqual(
    [...(await instancesPersist(pool, { owner: "c", instances: [{ id: inn!.id, epoch: inn!.epoch, status: "completed", state: null }], attempts: [] })).keys()],
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
  const { pool, queue } = await storeSetup(t);
  await queue(1);
  for (let i = 0; i < 5; i++) {
    await instanceClaim(pool, { owner: "a", limit: 1, leaseMs: 60_000 });
    await pool.query("UPDATE waymark.instances SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'");
    t.deepEqual(await instanceReclaimExpired(pool, { limit: 10, crashLoopLimit: 0 }), { requeued: 1, failed: [] });
  }
});
