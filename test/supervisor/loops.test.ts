/**
 * The supervisor's claim loop (Poller) and lease loops (Leases) in this process against a real
 * Postgres, with no children and no supervisor: each test drives a loop and awaits its pass
 * (`passed()`) instead of sleeping.
 */
import test, { type ExecutionContext } from "ava";
import pg from "pg";
import { createLogger, silentLogger } from "../../log/logger.js";
import { type ClaimedInstance, instanceClaim } from "../../store/leases.js";
import { instanceGet } from "../../store/instances.js";
import { Leases, type LeaseOptions } from "../../supervisor/leases.js";
import { Poller, type PollerOptions } from "../../supervisor/poller.js";
import { storeSetup } from "../helpers/store.js";

async function setup(t: ExecutionContext, queued: number) {
  const { pool, queue } = await storeSetup(t);
  return { pool, ids: await queue(queued) };
}

function poller(t: ExecutionContext, o: Partial<PollerOptions> & Pick<PollerOptions, "db">): Poller {
  const p = new Poller({
    owner: "me",
    leaseMs: 60_000,
    intervalMs: 60_000,
    log: silentLogger,
    room: () => 100,
    isolated: () => 1,
    adopt: () => undefined,
    ...o,
  });
  t.teardown(() => p.stop());
  return p;
}

function leases(t: ExecutionContext, o: Partial<LeaseOptions> & Pick<LeaseOptions, "db">): Leases {
  const l = new Leases({
    owner: "me",
    ttlMs: 60_000,
    heartbeatMs: 60_000,
    reclaimIntervalMs: 60_000,
    reclaimBatchSize: 2,
    crashLoopLimit: 0,
    log: silentLogger,
    held: () => [],
    lost: () => undefined,
    cancel: () => undefined,
    eventsSent: () => undefined,
    reclaimed: () => undefined,
    ...o,
  });
  t.teardown(() => l.stop());
  return l;
}

test("the poller claims only what the supervisor has room for, oldest first, and the rest when woken with room", async (t) => {
  const { pool, ids } = await setup(t, 5);
  let room = 3;
  const adopted: ClaimedInstance[] = [];
  const p = poller(t, {
    db: pool,
    room: () => room - adopted.length,
    adopt: (batch) => adopted.push(...batch),
  });
  const first = p.passed();
  p.start();
  await first;
  t.deepEqual(
    adopted.map((c) => c.id),
    ids.slice(0, 3),
  );
  t.true(adopted.every((c) => c.epoch === 1 && c.workflowName === "W"));
  // No room: a wake claims nothing (and asks Postgres nothing).
  const idle = p.passed();
  p.wake();
  await idle;
  t.is(adopted.length, 3);
  room = 10;
  const second = p.passed();
  p.wake();
  await second;
  t.deepEqual(
    adopted.map((c) => c.id),
    ids,
  );
  t.is(p.claimed, 5);
  const row = await instanceGet(pool, { id: ids[4]! });
  t.like(row, { status: "running" });
});

test("the poller hands over full batches until a short one, in one pass", async (t) => {
  const { pool, ids } = await setup(t, 450);
  const batches: number[] = [];
  const p = poller(t, { db: pool, room: () => 1000, adopt: (batch) => batches.push(batch.length) });
  const pass = p.passed();
  p.start();
  await pass;
  // 200 at most per claim (MAX_CLAIM): two full batches, then the short one that ends the pass.
  t.deepEqual(batches, [200, 200, 50]);
  t.is(p.claimed, ids.length);
});

test("a poller whose claims fail says so once and retries with backoff; stop() ends it", async (t) => {
  const down = new pg.Pool({ connectionString: "postgres://nobody@127.0.0.1:1/none", connectionTimeoutMillis: 500 });
  down.on("error", () => undefined);
  t.teardown(() => down.end());
  const lines: string[] = [];
  const log = createLogger({ level: "debug", component: "poller", write: (l) => lines.push(l) });
  const p = poller(t, { db: down, log, intervalMs: 10 });
  p.start();
  // Passes fail one after another (the backoff starts at 200 ms); the warning is said once.
  for (let i = 0; i < 3; i++) await p.passed();
  await p.stop();
  const warnings = lines.filter((l) => /WARN .*claiming instances failed; retrying/.test(l));
  t.is(warnings.length, 1, lines.join("\n"));
  t.regex(warnings[0]!, /retryInMs=200/);
});

test("the heartbeat extends the leases it holds and reports the ones it lost, with the epoch that lost them", async (t) => {
  const { pool, ids } = await setup(t, 3);
  const claimed = await instanceClaim(pool, { owner: "me", limit: 3, leaseMs: 1000 });
  // Another supervisor took the third one over (its lease expired, it was reclaimed and claimed).
  await pool.query("UPDATE waymark.instances SET lease_owner = 'other', lease_epoch = lease_epoch + 1 WHERE id = $1", [ids[2]]);
  const lost: Array<{ id: string; epoch: number }> = [];
  const l = leases(t, { db: pool, ttlMs: 120_000, held: () => claimed.map((c) => [c.id, c.epoch]), lost: (x) => lost.push(...x) });
  const beat = l.passed();
  l.start();
  await beat;
  t.deepEqual(lost, [{ id: ids[2]!, epoch: 1 }]);
  const { rows } = await pool.query<{ id: string; left: number }>(
    "SELECT id::text, extract(epoch FROM lease_expires_at - now()) * 1000 AS left FROM waymark.instances WHERE lease_owner = 'me' ORDER BY id",
  );
  t.deepEqual(
    rows.map((r) => r.id),
    ids.slice(0, 2),
  );
  t.true(
    rows.every((r) => r.left > 100_000),
    JSON.stringify(rows),
  );
});

test("the heartbeat passes on cancellation requests it finds on its rows (a missed NOTIFY)", async (t) => {
  const { pool, ids } = await setup(t, 2);
  const claimed = await instanceClaim(pool, { owner: "me", limit: 2, leaseMs: 60_000 });
  await pool.query("UPDATE waymark.instances SET cancel_requested = true WHERE id = $1", [ids[1]]);
  const cancelled: string[] = [];
  const l = leases(t, { db: pool, held: () => claimed.map((c) => [c.id, c.epoch]), cancel: (x) => cancelled.push(...x) });
  const beat = l.passed();
  l.start();
  await beat;
  t.deepEqual(cancelled, [ids[1]]);
});

test("the reclaimer requeues every expired lease in batches, counts a loss on each, and fails one at the crash-loop limit", async (t) => {
  const { pool, ids } = await setup(t, 5);
  await instanceClaim(pool, { owner: "dead", limit: 5, leaseMs: 60_000 });
  await pool.query("UPDATE waymark.instances SET lease_expires_at = now() - interval '1 second'");
  // The last one already killed two supervisors: a third death reaches the limit of 3.
  await pool.query("UPDATE waymark.instances SET lease_losses = 2 WHERE id = $1", [ids[4]]);
  let reclaimed = 0;
  const lines: string[] = [];
  const log = createLogger({ level: "info", component: "leases", write: (l) => lines.push(l) });
  const l = leases(t, { db: pool, log, crashLoopLimit: 3, reclaimBatchSize: 2, reclaimed: (n) => (reclaimed += n) });
  const pass = l.passed();
  l.start();
  await pass;
  t.is(reclaimed, 4);
  const { rows } = await pool.query<{ id: string; status: string; lease_losses: number; lease_owner: string | null }>(
    "SELECT id::text, status, lease_losses, lease_owner FROM waymark.instances ORDER BY id",
  );
  t.deepEqual(
    rows.map((r) => [r.status, r.lease_losses, r.lease_owner]),
    [...Array(4).fill(["queued", 1, null]), ["failed", 3, null]],
  );
  t.true(
    lines.some((x) => /ERROR .*a crash loop.* count=1 instances=/.test(x) && x.includes(ids[4]!)),
    lines.join("\n"),
  );
  // Requeued rows are claimable again, from their last state, with a new epoch.
  const again = await instanceClaim(pool, { owner: "me", limit: 10, leaseMs: 60_000 });
  t.deepEqual(
    again.map((c) => [c.id, c.epoch]),
    ids.slice(0, 4).map((id) => [id, 2]),
  );
});

test("until a lease is past its expiry the reclaimer leaves it alone", async (t) => {
  const { pool } = await setup(t, 2);
  await instanceClaim(pool, { owner: "alive", limit: 2, leaseMs: 60_000 });
  let reclaimed = 0;
  const l = leases(t, { db: pool, reclaimed: (n) => (reclaimed += n) });
  const pass = l.passed();
  l.start();
  await pass;
  t.is(reclaimed, 0);
  const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM waymark.instances WHERE status = 'running' AND lease_owner = 'alive'");
  t.is(rows[0]!.n, 2);
});
