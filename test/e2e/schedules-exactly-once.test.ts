/**
 * Three real supervisors share one database, their schedulers polling every 50 ms and all waking
 * at the same due times: each due fire still queues exactly one instance (claim and advance are
 * one transaction, under FOR UPDATE SKIP LOCKED). The Python original could double-fire here.
 */
import test from "ava";
import pg from "pg";
import { close, pauseSchedule, scheduleWorkflow } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/scheduled.ts";
const ENV = {
  WAYMARK_WORKER_COUNT: "1",
  WAYMARK_EXECUTOR_SHARDS: "1",
  WAYMARK_SCHEDULER_POLL_INTERVAL_MS: "50",
  WAYMARK_SCHEDULER_BATCH_SIZE: "3",
  WAYMARK_LOG_LEVEL: "debug",
};
const WINDOW_MS = 10_000;
/** One busy schedule, plus more so that the three schedulers' batches interleave. */
const NAMES = ["every-second", ...Array.from({ length: 7 }, (_, i) => `crowd-${i}`)];

test("three supervisors, 1-second schedules for 10 seconds: one instance per due fire, not three", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const sups: SupervisorProcess[] = await Promise.all([0, 1, 2].map(() => supervise({ databaseUrl: url, modules: [FIXTURE], env: ENV })));
  const db = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const { TickWorkflow } = await import("../fixtures/workflows/scheduled.js");
    for (const scheduleName of NAMES) await scheduleWorkflow(TickWorkflow, { scheduleName, schedule: { everyMs: 1000 }, args: [scheduleName, new Date()] });
    const started = Date.now();
    await new Promise((r) => setTimeout(r, WINDOW_MS - (Date.now() - started)));
    for (const scheduleName of NAMES) await pauseSchedule(TickWorkflow, { scheduleName });
    const elapsed = Date.now() - started;

    const { rows } = await db.query<{ name: string; created_at: Date; status: string; id: string }>(
      `SELECT s.schedule_name AS name, i.created_at, i.status, i.id::text FROM waymark.instances i JOIN waymark.schedules s ON s.id = i.schedule_id ORDER BY i.created_at`,
    );
    for (const name of NAMES) {
      const mine = rows.filter((r) => r.name === name);
      // ~10 fires in ~10 s: first at +1 s, then each at the last + 1 s plus the scheduler's latency
      // (a loaded machine adds more of it). Three schedulers firing each due run would make ~30.
      t.true(mine.length >= 7 && mine.length <= Math.ceil(elapsed / 1000) + 1, `${name}: ${mine.length} instances in ${elapsed} ms`);
      // A double fire shows as two instances of one schedule moments apart.
      const gaps = mine.slice(1).map((r, i) => r.created_at.getTime() - mine[i]!.created_at.getTime());
      t.true(
        gaps.every((g) => g >= 1000),
        `${name}: gaps ${gaps.join(", ")}`,
      );
    }

    // Every fire is in one scheduler's log, and all the fired instances complete, each action once.
    const fired = sups.map((s) => (s.output().match(/schedule fired/g) ?? []).length);
    t.is(
      fired.reduce((a, b) => a + b, 0),
      rows.length,
      `fires per supervisor: ${fired.join(", ")}`,
    );
    t.log(`fires per supervisor: ${fired.join(", ")}; instances per schedule: ${NAMES.map((n) => rows.filter((r) => r.name === n).length).join(", ")}`);
    const ids = rows.map((r) => r.id);
    for (const deadline = Date.now() + 20_000; ; ) {
      t.true(Date.now() < deadline, "the fired instances did not all complete within 20 s");
      if (Date.now() >= deadline) break;
      const { rows: open } = await db.query(`SELECT count(*)::int AS n FROM waymark.instances WHERE id = ANY($1::uuid[]) AND status <> 'completed'`, [ids]);
      if (open[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const attempts = await db.query(
      `SELECT count(*)::int AS n, count(DISTINCT instance_id)::int AS i FROM waymark.action_attempts WHERE instance_id = ANY($1::uuid[])`,
      [ids],
    );
    t.deepEqual(attempts.rows[0], { n: ids.length, i: ids.length });
  } finally {
    await close();
    await db.end();
    for (const s of sups) t.is(await s.stop(), 0);
  }
});
