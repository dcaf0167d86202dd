import test from "ava";
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { sampleAny, sampleList, sampleRecord } from "../../store/samples.js";
import { storeSetup } from "../helpers/store.js";

/**
 * The sampler's one statement (store/samples.ts) against known rows: the interval's attempts
 * (counts, duration and step percentiles, its edges), open instances per workflow and status,
 * the queue lag, the caps, one sample per interval whoever writes it, and pruning.
 */
const DAY = 86_400_000;

/** The end of the latest whole interval, by the database's clock (as the statement computes it with no settle time). */
async function intervalEnd(pool: pg.Pool, intervalMs: number): Promise<number> {
  const { rows } = await pool.query<{ now: Date }>("SELECT now()");
  return Math.floor(rows[0]!.now.getTime() / intervalMs) * intervalMs;
}

async function attempt(pool: pg.Pool, a: { instance: string; seq: number; attempt?: number; status?: string; start: number; end: number }): Promise<void> {
  await pool.query(
    `INSERT INTO waymark.action_attempts (instance_id, action_seq, attempt, node_id, action_name, status, started_at, finished_at)
     VALUES ($1, $2, $3, 'n', 'a', $4, $5, $6)`,
    [a.instance, a.seq, a.attempt ?? 1, a.status ?? "completed", new Date(a.start), new Date(a.end)],
  );
}

/** An open instance; `dueInMs` relative to the database's now (negative: due since then). */
async function open(pool: pg.Pool, p: { versionId: number; workflow: string; status: string; dueInMs?: number | "never" }): Promise<void> {
  const at = p.dueInMs === "never" ? "'infinity'::timestamptz" : `now() + ${p.dueInMs ?? 0} * interval '1 millisecond'`;
  await pool.query(`INSERT INTO waymark.instances (id, workflow_name, version_id, status, args, scheduled_at) VALUES ($1, $2, $3, $4, '[]', ${at})`, [
    randomUUID(),
    p.workflow,
    p.versionId,
    p.status,
  ]);
}

test("a sample counts the interval's attempts, their durations and steps, and the open instances per workflow and status", async (t) => {
  const { pool, versionId } = await storeSetup(t);
  // A day-long interval: the one that ended at the last midnight (UTC) is the latest whole one.
  const B = await intervalEnd(pool, DAY);
  const [x, y, z] = [randomUUID(), randomUUID(), randomUUID()];
  // x runs its calls one after another; sequence 3 is an event wait (no attempt); call 5 is retried twice.
  await attempt(pool, { instance: x, seq: 1, start: B - 100_000, end: B - 99_000 }); // 1000 ms, no step before it
  await attempt(pool, { instance: x, seq: 2, start: B - 98_800, end: B - 98_600 }); // 200 ms, step 200 ms
  await attempt(pool, { instance: x, seq: 4, start: B - 98_500, end: B - 98_200 }); // 300 ms, step 100 ms (past the wait)
  await attempt(pool, { instance: x, seq: 5, status: "failed", start: B - 97_900, end: B - 97_800 }); // 100 ms, step 300 ms
  await attempt(pool, { instance: x, seq: 5, attempt: 2, status: "timed_out", start: B - 97_000, end: B - 96_000 }); // 1000 ms, a retry: no step
  await attempt(pool, { instance: x, seq: 5, attempt: 3, start: B - 95_000, end: B - 94_950 }); // 50 ms, a retry
  // y: calls 1 and 2 in Promise.all (2 started before 1 ended: no step), then call 3.
  await attempt(pool, { instance: y, seq: 1, start: B - 50_000, end: B - 49_000 }); // 1000 ms
  await attempt(pool, { instance: y, seq: 2, start: B - 50_000, end: B - 48_000 }); // 2000 ms, no step
  await attempt(pool, { instance: y, seq: 3, start: B - 47_000, end: B - 46_000 }); // 1000 ms, step 1000 ms
  // z: the interval's edges. It is (B - DAY, B]: an attempt that ended at its start is out, at its end in.
  await attempt(pool, { instance: z, seq: 1, start: B - DAY - 2000, end: B - DAY }); // out
  await attempt(pool, { instance: z, seq: 2, status: "failed", start: B - DAY + 4000, end: B - DAY + 5000 }); // 1000 ms, step 4000 ms from an attempt outside
  await attempt(pool, { instance: z, seq: 3, start: B - 1000, end: B }); // 1000 ms, step: the whole day between (a sleep counts)
  await attempt(pool, { instance: z, seq: 4, start: B, end: B + 1 }); // out: the next interval

  // Open instances: Alpha has two due in the queue and one queued for later; Beta has one
  // asleep past its wake time (due), one asleep until later and one until a message comes.
  await open(pool, { versionId, workflow: "Alpha", status: "queued", dueInMs: -4000 });
  await open(pool, { versionId, workflow: "Alpha", status: "queued", dueInMs: -8000 });
  await open(pool, { versionId, workflow: "Alpha", status: "queued", dueInMs: 3_600_000 });
  await open(pool, { versionId, workflow: "Alpha", status: "running" });
  await open(pool, { versionId, workflow: "Beta", status: "sleeping", dueInMs: -30_000 });
  await open(pool, { versionId, workflow: "Beta", status: "sleeping", dueInMs: 3_600_000 });
  await open(pool, { versionId, workflow: "Beta", status: "sleeping", dueInMs: "never" });
  await open(pool, { versionId, workflow: "Beta", status: "running" });
  await open(pool, { versionId, workflow: "Beta", status: "running" });
  await pool.query(
    `INSERT INTO waymark.instances (id, workflow_name, version_id, status, args, finished_at) VALUES ($1, 'Alpha', $2, 'completed', '[]', now())`,
    [randomUUID(), versionId],
  );

  const at = await sampleRecord(pool, { intervalMs: DAY, settleMs: 0, retentionMs: 2 * DAY });
  t.deepEqual(at, new Date(B), "the latest whole interval (run again if this ran across midnight UTC)");
  const [s, ...more] = await sampleList(pool, { since: new Date(B - 1), windowMs: 3 * DAY });
  t.is(more.length, 0);
  t.like(s, { at: new Date(B), seconds: DAY / 1000, actions: 11, failures: 3, capped: [] });
  // Durations 50, 100, 200, 300, 1000 x6, 2000: the 6th of 11 and the 11th (percentile_disc).
  t.is(s!.durationP50Ms, 1000);
  t.is(s!.durationP95Ms, 2000);
  // Steps 100, 200, 300, 1000, 4000 and the day less 6 s: the 3rd of 6 and the 6th.
  t.is(s!.stepP50Ms, 300);
  t.is(s!.stepP95Ms, DAY - 6000);
  t.deepEqual(s!.depth, { Alpha: { queued: 3, running: 1, sleeping: 0 }, Beta: { queued: 0, running: 2, sleeping: 3 } });
  // Due for 4 s, 8 s and 30 s when the rows went in, a little more when the sample was taken.
  t.true(s!.lagP50Ms >= 8000 && s!.lagP50Ms < 13_000, String(s!.lagP50Ms));
  t.true(s!.lagP95Ms >= 30_000 && s!.lagP95Ms < 35_000, String(s!.lagP95Ms));

  // The same interval again: written already, nothing happens.
  t.is(await sampleRecord(pool, { intervalMs: DAY, settleMs: 0, retentionMs: 2 * DAY }), undefined);
  t.is((await pool.query("SELECT count(*)::int AS n FROM waymark.samples")).rows[0].n, 1);
});

test("an interval without attempts or open instances has no percentiles, no lag and no depth", async (t) => {
  const { pool } = await storeSetup(t);
  t.false(await sampleAny(pool, { windowMs: 3_600_000 }));
  const dbNow = async () => (await pool.query<{ now: Date }>("SELECT now()")).rows[0]!.now.getTime();
  const before = await dbNow();
  const at = await sampleRecord(pool, { intervalMs: 10_000, settleMs: 2000, retentionMs: 3_600_000 });
  const after = await dbNow();
  t.truthy(at);
  const [s] = await sampleList(pool, { windowMs: 3_600_000 });
  t.deepEqual(s, {
    at: at!,
    seconds: 10,
    actions: 0,
    failures: 0,
    durationP50Ms: null,
    durationP95Ms: null,
    stepP50Ms: null,
    stepP95Ms: null,
    lagP50Ms: 0,
    lagP95Ms: 0,
    depth: {},
    capped: [],
  });
  t.true(await sampleAny(pool, { windowMs: 3_600_000 }));
  // The interval is the last whole one that ended at least settleMs ago, on a multiple of its length.
  t.is(at!.getTime() % 10_000, 0);
  t.true(
    at!.getTime() > before - 12_000 && at!.getTime() <= after - 2000,
    `${at!.toISOString()} between ${new Date(before).toISOString()} and ${new Date(after).toISOString()}`,
  );
});

test("open instances are counted up to the cap per status (named in capped), and 20 workflows at most by name", async (t) => {
  const { pool, versionId } = await storeSetup(t);
  for (let i = 1; i <= 22; i++) await open(pool, { versionId, workflow: `w${String(i).padStart(2, "0")}`, status: "running" });
  for (let i = 0; i < 5; i++) await open(pool, { versionId, workflow: "w01", status: "queued", dueInMs: -1000 });
  for (let i = 0; i < 4; i++) await open(pool, { versionId, workflow: "w02", status: "sleeping", dueInMs: -1000 });
  await sampleRecord(pool, { intervalMs: 10_000, settleMs: 0, retentionMs: 3_600_000, cap: 4 });
  const [s] = await sampleList(pool, { windowMs: 3_600_000 });
  // Four of each status are read; the lag's due sleepers reached the cap as well.
  t.deepEqual(s!.capped, ["queued", "running", "sleeping", "woken"]);
  const sum = (k: "queued" | "running" | "sleeping") => Object.values(s!.depth).reduce((n, d) => n + d[k], 0);
  t.deepEqual([sum("queued"), sum("running"), sum("sleeping")], [4, 4, 4]);

  await pool.query("DELETE FROM waymark.samples");
  await sampleRecord(pool, { intervalMs: 10_000, settleMs: 0, retentionMs: 3_600_000 });
  const [all] = await sampleList(pool, { windowMs: 3_600_000 });
  t.deepEqual(all!.capped, []);
  // The most open instances first, then by name: w01 (6) and w02 (5), then w03...w20; w21 and w22 are summed.
  t.is(Object.keys(all!.depth).length, 21);
  t.deepEqual(all!.depth.w01, { queued: 5, running: 1, sleeping: 0 });
  t.deepEqual(all!.depth.w02, { queued: 0, running: 1, sleeping: 4 });
  t.deepEqual(all!.depth["(other)"], { queued: 0, running: 2, sleeping: 0 });
  t.false("w21" in all!.depth);
});

test("writers racing for an interval write one sample: the advisory lock turns away those who come while it is taken, the key the rest", async (t) => {
  const { pool } = await storeSetup(t);
  const p = { intervalMs: DAY, settleMs: 0, retentionMs: 2 * DAY };
  const results = await Promise.all(Array.from({ length: 4 }, () => sampleRecord(pool, p)));
  t.is(results.filter((r) => r !== undefined).length, 1, JSON.stringify(results));
  t.is((await pool.query("SELECT count(*)::int AS n FROM waymark.samples")).rows[0].n, 1);

  // A writer whose transaction is still open holds the lock: another one does nothing meanwhile.
  await pool.query("DELETE FROM waymark.samples");
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    const mine = await sampleRecord(c, p);
    t.truthy(mine);
    t.is(await sampleRecord(pool, p), undefined);
    await c.query("COMMIT");
  } finally {
    c.release();
  }
  t.is(await sampleRecord(pool, p), undefined);
  t.is((await pool.query("SELECT count(*)::int AS n FROM waymark.samples")).rows[0].n, 1);
});

test("writing a sample prunes those past the retention; the list gives the window, after `since`, oldest first", async (t) => {
  const { pool } = await storeSetup(t);
  const old = (minutes: number) =>
    pool.query(
      `INSERT INTO waymark.samples (at, seconds, actions, failures, lag_p50_ms, lag_p95_ms, depth)
       VALUES (date_trunc('milliseconds', now() - $1 * interval '1 minute'), 10, $1, 0, 0, 0, '{}')`,
      [minutes],
    );
  for (const m of [120, 61, 50, 30, 1]) await old(m);
  const at = await sampleRecord(pool, { intervalMs: 10_000, settleMs: 0, retentionMs: 3_600_000 });
  const kept = await sampleList(pool, { windowMs: 3 * 3_600_000 });
  t.deepEqual(
    kept.map((s) => s.actions),
    [50, 30, 1, 0],
  );
  t.deepEqual(kept.at(-1)!.at, at);
  // The last 40 minutes; then only what came after the 30-minute-old one.
  t.deepEqual(
    (await sampleList(pool, { windowMs: 40 * 60_000 })).map((s) => s.actions),
    [30, 1, 0],
  );
  t.deepEqual(
    (await sampleList(pool, { since: kept[1]!.at, windowMs: 3_600_000 })).map((s) => s.actions),
    [1, 0],
  );
});
