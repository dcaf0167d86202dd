/**
 * The scheduler service that `waymark supervise` runs, driven in-process against a real
 * Postgres, for the cases a whole supervisor makes hard to reach: bad rows, a database that is
 * down, the timer, and two schedulers racing over many due rows. Tests await the loop's passes
 * (`passed()`) rather than sleeping.
 */
import test from "ava";
import pg from "pg";
import { close, deleteSchedule, listSchedules, pauseSchedule, resumeSchedule, ScheduleError, scheduleWorkflow } from "waymark";
import { createLogger, type Logger } from "../../log/logger.js";
import { Scheduler } from "../../supervisor/scheduler.js";
import { useTestDatabase } from "../helpers/db.js";

const dbUrl = useTestDatabase(test);
let db: pg.Pool;
let S: typeof import("../fixtures/workflows/scheduled.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  db = new pg.Pool({ connectionString: await dbUrl(), max: 6 });
  S = await import("../fixtures/workflows/scheduled.js");
});

test.after.always(async () => {
  await close();
  await db?.end();
});

function logger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: "debug", component: "scheduler", write: (l) => lines.push(l) }), lines };
}

async function row(name: string) {
  const { rows } = await db.query(`SELECT id, status, next_run_at, last_run_at, last_instance_id::text FROM waymark.schedules WHERE schedule_name = $1`, [
    name,
  ]);
  return rows[0];
}

async function instancesOf(name: string): Promise<number> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS n FROM waymark.instances i JOIN waymark.schedules s ON s.id = i.schedule_id WHERE s.schedule_name = $1`,
    [name],
  );
  return rows[0].n;
}

/** A schedule row written past the SDK's validation, as an older or newer waymark might have. */
async function rawSchedule(p: { workflow: string; name: string; cron?: string; intervalMs?: number }) {
  await db.query(
    `INSERT INTO waymark.schedules (workflow_name, schedule_name, kind, cron, interval_ms, next_run_at) VALUES ($1, $2, $3, $4, $5, now() - interval '1 second')`,
    [p.workflow, p.name, p.cron ? "cron" : "interval", p.cron ?? null, p.intervalMs ?? null],
  );
}

test.serial("a schedule whose next run cannot be computed stops with an error; the rest of its batch still fires", async (t) => {
  await scheduleWorkflow(S.TickWorkflow, { scheduleName: "good", schedule: { everyMs: 60_000 }, args: ["g", new Date()] });
  await db.query(`UPDATE waymark.schedules SET next_run_at = now() - interval '1 second' WHERE schedule_name = 'good'`);
  await rawSchedule({ workflow: "TickWorkflow", name: "feb-30", cron: "0 0 0 30 2 *" });
  const { log, lines } = logger();
  await new Scheduler({ db, intervalMs: 60_000, batchSize: 10, log }).pass();
  t.is(await instancesOf("good"), 1);
  t.true((await row("good")).next_run_at.getTime() > Date.now() + 50_000);
  // The bad one fired this once, and has no next run until it is given a new cadence.
  const bad = await row("feb-30");
  t.is(bad.next_run_at, null);
  t.is(bad.status, "active");
  t.true(
    lines.some((l) =>
      /ERROR .*cannot compute a schedule's next run.* workflow=TickWorkflow schedule=feb-30 error="Invalid explicit day of month definition"/.test(l),
    ),
    lines.join("\n"),
  );
  t.is((await listSchedules()).find((s) => s.scheduleName === "feb-30")!.nextRunAt, null);
  await t.throwsAsync(resumeSchedule("TickWorkflow", { scheduleName: "feb-30" }), {
    instanceOf: ScheduleError,
    message:
      'schedule "feb-30" of workflow TickWorkflow cannot compute its next run (Invalid explicit day of month definition): give it a new cadence with scheduleWorkflow',
  });
  await db.query(`DELETE FROM waymark.schedules`);
});

test.serial("a schedule of a workflow with no registered version skips the fire with a warning and moves on", async (t) => {
  await rawSchedule({ workflow: "GhostWorkflow", name: "ghost", intervalMs: 60_000 });
  const { log, lines } = logger();
  const s = new Scheduler({ db, intervalMs: 60_000, batchSize: 10, log });
  await s.pass();
  t.is(await instancesOf("ghost"), 0);
  const r = await row("ghost");
  t.true(r.next_run_at.getTime() > Date.now() + 50_000);
  t.is(r.last_run_at, null);
  t.is(s.fired, 0);
  t.true(
    lines.some((l) => /WARN .*no registered version; skipping this fire workflow=GhostWorkflow schedule=ghost/.test(l)),
    lines.join("\n"),
  );
  await db.query(`DELETE FROM waymark.schedules`);
});

test.serial("fires missed while no scheduler ran are not replayed: one catch-up fire, then the next run from now", async (t) => {
  await scheduleWorkflow(S.TickWorkflow, { scheduleName: "overdue", schedule: { everyMs: 1000 }, args: ["o", new Date()] });
  await scheduleWorkflow(S.TickWorkflow, { scheduleName: "overdue-cron", schedule: "* * * * * *", args: ["o", new Date()] });
  await db.query(`UPDATE waymark.schedules SET next_run_at = now() - interval '30 seconds'`);
  const s = new Scheduler({ db, intervalMs: 60_000, batchSize: 10, log: logger().log });
  const before = Date.now();
  await s.pass();
  await s.pass();
  t.is(await instancesOf("overdue"), 1);
  t.is(await instancesOf("overdue-cron"), 1);
  const r = await row("overdue");
  t.is(r.next_run_at.getTime() - r.last_run_at.getTime(), 1000);
  t.true(r.last_run_at.getTime() >= before - 50);
  t.true((await row("overdue-cron")).next_run_at.getTime() > before);
  await db.query(`DELETE FROM waymark.schedules`);
});

test.serial("the scheduler sleeps until the next due time, not the whole poll interval", async (t) => {
  await scheduleWorkflow(S.TickWorkflow, { scheduleName: "soon", schedule: { everyMs: 60_000 }, args: ["s", new Date()] });
  await db.query(`UPDATE waymark.schedules SET next_run_at = now() + interval '700 milliseconds' WHERE schedule_name = 'soon'`);
  const s = new Scheduler({ db, intervalMs: 60_000, batchSize: 10, log: logger().log });
  const started = Date.now();
  const first = s.passed();
  s.start();
  try {
    // The first pass finds nothing due and sleeps until the schedule's time, not for 60 s.
    await first;
    t.is(await instancesOf("soon"), 0);
    await s.passed();
    t.is(await instancesOf("soon"), 1);
    const took = Date.now() - started;
    t.true(took >= 650 && took < 30_000, `fired after ${took} ms`);
  } finally {
    await s.stop();
    await s.stop(); // twice is fine
    await db.query(`DELETE FROM waymark.schedules`);
  }
});

test.serial("when the database is unreachable it retries every poll interval, not in a hot loop, and stops cleanly", async (t) => {
  const down = new pg.Pool({ connectionString: "postgres://nobody@127.0.0.1:1/none", connectionTimeoutMillis: 500 });
  down.on("error", () => undefined);
  const { log, lines } = logger();
  const s = new Scheduler({ db: down, intervalMs: 300, batchSize: 10, log });
  await s.stop(); // before start: fine
  const first = s.passed();
  const started = Date.now();
  s.start();
  await first;
  await s.passed();
  await s.passed();
  const took = Date.now() - started;
  await s.stop();
  await down.end();
  const failures = lines.filter((l) => /WARN .*scheduler pass failed; retrying/.test(l));
  t.is(failures.length, 3, lines.join("\n"));
  t.true(failures.every((l) => /retryInMs=300/.test(l)));
  t.true(took >= 2 * 300 - 20, `three failed passes in ${took} ms`);
});

test.serial("a paused schedule never fires, however overdue; resumed, it fires from now on", async (t) => {
  await scheduleWorkflow(S.TickWorkflow, { scheduleName: "paused", schedule: { everyMs: 500 }, args: ["p", new Date()] });
  await pauseSchedule(S.TickWorkflow, { scheduleName: "paused" });
  await db.query(`UPDATE waymark.schedules SET next_run_at = now() - interval '10 seconds' WHERE schedule_name = 'paused'`);
  const s = new Scheduler({ db, intervalMs: 60_000, batchSize: 10, log: logger().log });
  await s.pass();
  t.is(s.fired, 0);
  t.is(await instancesOf("paused"), 0);
  await resumeSchedule("TickWorkflow", { scheduleName: "paused" });
  await db.query(`UPDATE waymark.schedules SET next_run_at = now() - interval '1 second' WHERE schedule_name = 'paused'`);
  await s.pass();
  t.is(await instancesOf("paused"), 1);
  await deleteSchedule(S.TickWorkflow, { scheduleName: "paused" });
  await s.pass();
  t.is(s.fired, 1);
});

test.serial("two schedulers racing over 60 due schedules in small batches queue exactly one instance each", async (t) => {
  for (let i = 0; i < 60; i++)
    await scheduleWorkflow(S.TickWorkflow, { scheduleName: `race-${i}`, schedule: { everyMs: 60_000 }, args: [`r${i}`, new Date()] });
  await db.query(`UPDATE waymark.schedules SET next_run_at = now() - interval '1 second'`);
  const a = new Scheduler({ db, intervalMs: 60_000, batchSize: 4, log: logger().log });
  const b = new Scheduler({ db, intervalMs: 60_000, batchSize: 4, log: logger().log });
  await Promise.all([a.pass(), b.pass(), a.pass(), b.pass()]);
  t.is(a.fired + b.fired, 60, `a fired ${a.fired}, b fired ${b.fired}`);
  const { rows } = await db.query(
    `SELECT s.schedule_name, count(i.id)::int AS n, bool_and(s.last_instance_id = i.id OR i.id IS NULL) AS last FROM waymark.schedules s LEFT JOIN waymark.instances i ON i.schedule_id = s.id GROUP BY s.schedule_name`,
  );
  t.is(rows.length, 60);
  t.true(
    rows.every((r) => r.n === 1 && r.last),
    JSON.stringify(rows.filter((r) => r.n !== 1)),
  );
  await db.query(`DELETE FROM waymark.schedules`);
});
