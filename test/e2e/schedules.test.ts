/**
 * Scheduled workflows against one real `waymark supervise`. Its scheduler polls only every 60 s
 * (WAYMARK_SCHEDULER_POLL_INTERVAL_MS), so every prompt fire below also shows that it sleeps
 * until the next due time and wakes on the NOTIFY a schedule change sends.
 */
import test from "ava";
import pg from "pg";
import {
  close,
  deleteSchedule,
  isWaymarkError,
  listSchedules,
  pauseSchedule,
  RegistrationError,
  resumeSchedule,
  ScheduleError,
  scheduleWorkflow,
  SerializationError,
  Workflow,
  WorkflowHandle,
} from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

const waitUntil = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>) => until(what, probe, timeoutMs, 50);

const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/scheduled.ts";
const ENV = {
  WAYMARK_SCHEDULER_POLL_INTERVAL_MS: "60000",
  WAYMARK_SCHEDULER_BATCH_SIZE: "2",
  WAYMARK_LOG_LEVEL: "debug",
  WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "300",
};
let sup: SupervisorProcess;
let db: pg.Pool;
let S: typeof import("../fixtures/workflows/scheduled.js");

test.before(async () => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  db = new pg.Pool({ connectionString: url, max: 2 });
  sup = await supervise({ databaseUrl: url, modules: [FIXTURE], env: ENV });
  S = await import("../fixtures/workflows/scheduled.js");
});

test.after.always(async () => {
  await close();
  await db?.end();
  await sup?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Fire {
  id: string;
  status: string;
  priority: number;
  version_id: number;
  created_at: Date;
  finished_at: Date | null;
}

async function scheduleId(name: string): Promise<number> {
  const { rows } = await db.query(`SELECT id FROM waymark.schedules WHERE schedule_name = $1`, [name]);
  return Number(rows[0].id);
}

/** The instances a schedule queued, oldest first. */
async function fires(id: number): Promise<Fire[]> {
  const { rows } = await db.query(
    `SELECT id::text, status, priority, version_id::int, created_at, finished_at FROM waymark.instances WHERE schedule_id = $1 ORDER BY created_at`,
    [id],
  );
  return rows;
}

const waitForFires = (id: number, n: number, timeoutMs: number) =>
  waitUntil(`${n} fires of schedule ${id}`, timeoutMs, async () => ((await fires(id)).length >= n ? fires(id) : undefined));

async function nextRunAt(id: number): Promise<number> {
  const { rows } = await db.query(`SELECT next_run_at FROM waymark.schedules WHERE id = $1`, [id]);
  return (rows[0].next_run_at as Date).getTime();
}

const gaps = (rows: Fire[]) => rows.slice(1).map((r, i) => r.created_at.getTime() - rows[i]!.created_at.getTime());

test.serial("the scheduler reads WAYMARK_SCHEDULER_POLL_INTERVAL_MS and WAYMARK_SCHEDULER_BATCH_SIZE, each from its own variable", async (t) => {
  t.regex(await sup.waitFor(/\[[\w.]*scheduler\] scheduler started .*/), /pollIntervalMs=60000 batchSize=2/);
});

test.serial("scheduleWorkflow refuses invalid input before anything is stored, saying what is wrong", async (t) => {
  const W = S.TickWorkflow;
  const base = { scheduleName: "bad", args: ["x", new Date()] };
  const refused: Array<[object, RegExp]> = [
    [{ ...base, schedule: "61 * * * *" }, /^cron expression "61 \* \* \* \*" is invalid: Constraint error, got value 61 expected range 0-59$/],
    [{ ...base, schedule: "* * * *" }, /has 4 fields: use 5 \(minute hour day month weekday\) or 6 \(with seconds first\)/],
    [{ ...base, schedule: "0 9 * * *", timezone: "Mars/Olympus_Mons" }, /^timezone "Mars\/Olympus_Mons" is not a valid IANA time zone/],
    [{ ...base, schedule: { everyMs: 0 } }, /^an interval schedule needs everyMs as a whole number of milliseconds from 1 to \d+ \(100 years\), got 0$/],
    [{ ...base, schedule: { everyMs: 1000 }, timezone: "nowhere" }, /^timezone "nowhere" is not a valid IANA time zone/],
    [{ ...base, schedule: { every: 1000 } }, /^schedule must be a cron expression/],
    [{ ...base }, /^scheduleWorkflow needs \{ schedule \}/],
    [{ ...base, schedule: { everyMs: 1000 }, jitterMs: -1 }, /^jitterMs must be a whole number of milliseconds from 0 to 2147483647, got -1$/],
    [{ ...base, schedule: { everyMs: 1000 }, priority: 1.5 }, /^priority must be a whole number \(a 32-bit integer\), got 1\.5$/],
    [{ ...base, schedule: { everyMs: 1000 }, allowDuplicate: "yes" }, /^allowDuplicate must be true or false, got "yes"$/],
    [{ ...base, schedule: { everyMs: 1000 }, args: "x" }, /^args must be an array of the workflow's arguments, got "x"$/],
    [
      { ...base, schedule: { everyMs: 1000 }, inputs: ["x"] },
      /^scheduleWorkflow has no option "inputs" \(did you mean args\?\); the options are scheduleName, schedule, args/,
    ],
    [{ ...base, schedule: { everyMs: 1000 }, jiterMs: 5 }, /no option "jiterMs" \(did you mean jitterMs\?\)/],
    [{ ...base, scheduleName: "", schedule: { everyMs: 1000 } }, /^scheduleWorkflow needs \{ scheduleName \} \(a non-empty string\), got ""$/],
  ];
  for (const [options, message] of refused) {
    const e = await t.throwsAsync(scheduleWorkflow(W, options as never), { instanceOf: ScheduleError, message }, JSON.stringify(options));
    t.is(e?.code, "WAYMARK_CONFIG");
  }
  await t.throwsAsync(scheduleWorkflow(W, { ...base, schedule: { everyMs: 1000 }, args: ["x", () => 1] }), {
    instanceOf: SerializationError,
    message: /argument 2 of schedule bad of workflow TickWorkflow cannot be stored/,
  });
  class NotDecorated extends Workflow {
    async run() {
      return 1;
    }
  }
  await t.throwsAsync(scheduleWorkflow(NotDecorated, { scheduleName: "bad", schedule: "0 * * * *" }), {
    instanceOf: RegistrationError,
    message: /NotDecorated is not a workflow/,
  });
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM waymark.schedules`);
  t.is(rows[0].n, 0);
  t.deepEqual(await listSchedules(), []);
});

test.serial("an interval schedule fires first at now + interval, then at each last run + interval, with its args and priority", async (t) => {
  const firstArg = new Date(Date.UTC(2030, 0, 2));
  const before = Date.now();
  const info = await scheduleWorkflow(S.TickWorkflow, { scheduleName: "every-second", schedule: { everyMs: 1000 }, args: ["tick", firstArg], priority: 3 });
  const after = Date.now();
  t.like(info, {
    workflowName: "TickWorkflow",
    scheduleName: "every-second",
    schedule: { everyMs: 1000 },
    cron: null,
    intervalMs: 1000,
    timezone: "UTC",
    jitterMs: 0,
    priority: 3,
    allowDuplicate: false,
    status: "active",
    lastRunAt: null,
    lastInstanceId: null,
  });
  t.deepEqual(info.args, ["tick", firstArg]);
  t.true(info.nextRunAt!.getTime() >= before + 1000 && info.nextRunAt!.getTime() <= after + 1000, `first run ${info.nextRunAt!.toISOString()}`);

  const id = await scheduleId("every-second");
  await waitForFires(id, 3, 8000);
  await pauseSchedule(S.TickWorkflow, { scheduleName: "every-second" });
  const rows = await fires(id);
  // The first fire is at the first run, not at once; then one per interval, never faster.
  t.true(rows[0]!.created_at.getTime() >= info.nextRunAt!.getTime(), "fired before its first run");
  for (const g of gaps(rows)) t.true(g >= 1000 && g < 2000, `gap between fires ${g} ms`);
  const latest = (
    await db.query(`SELECT id::int FROM waymark.workflow_versions WHERE workflow_name = 'TickWorkflow' ORDER BY registered_at DESC, id DESC LIMIT 1`)
  ).rows[0].id;
  for (const r of rows) t.like(r, { priority: 3, version_id: latest });
  for (const r of rows) t.deepEqual(await new WorkflowHandle(r.id, "TickWorkflow").result(), { label: "tick", year: 2030, seen: new Map([["label", "tick"]]) });

  // The list carries the last fire, and the next run is that run + the interval.
  const [listed] = await listSchedules({ workflow: S.TickWorkflow });
  const last = rows.at(-1)!;
  t.like(listed, { scheduleName: "every-second", status: "paused", lastInstanceId: last.id });
  t.true(Math.abs(listed!.lastRunAt!.getTime() - last.created_at.getTime()) <= 1);
  t.is(listed!.nextRunAt!.getTime() - listed!.lastRunAt!.getTime(), 1000);
  await deleteSchedule(S.TickWorkflow, { scheduleName: "every-second" });
});

test.serial("cron runs in the schedule's timezone; 5 fields are normalised, 6 fields fire on their seconds", async (t) => {
  // 5 fields, Europe/Berlin: the next run is at 9:00 on Berlin's clock.
  const berlin = await scheduleWorkflow(S.TickWorkflow, {
    scheduleName: "berlin-9am",
    schedule: "0 9 * * *",
    timezone: "Europe/Berlin",
    args: ["b", new Date()],
  });
  t.is(berlin.cron, "0 0 9 * * *");
  t.is(berlin.schedule, "0 0 9 * * *");
  t.is(berlin.timezone, "Europe/Berlin");
  t.is(
    new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(
      berlin.nextRunAt!,
    ),
    "09:00:00",
  );
  t.true(berlin.nextRunAt!.getTime() > Date.now() && berlin.nextRunAt!.getTime() <= Date.now() + 25 * 3600_000);
  await deleteSchedule(S.TickWorkflow, { scheduleName: "berlin-9am" });

  // Every 2 seconds during this hour and the next in Kolkata (UTC+5:30): UTC's hour is never
  // one of them, so the fires show the expression is read on Kolkata's clock.
  const h = Number(new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Kolkata", hour: "2-digit", hourCycle: "h23" }).format(new Date()));
  const expr = `*/2 * ${h},${(h + 1) % 24} * * *`;
  const kolkata = await scheduleWorkflow(S.TickWorkflow, { scheduleName: "kolkata", schedule: expr, timezone: "Asia/Kolkata", args: ["k", new Date()] });
  t.is(kolkata.cron, expr);
  t.true(kolkata.nextRunAt!.getTime() - Date.now() <= 2000);
  t.is(kolkata.nextRunAt!.getUTCSeconds() % 2, 0);
  t.is(kolkata.nextRunAt!.getUTCMilliseconds(), 0);
  const id = await scheduleId("kolkata");
  await waitForFires(id, 3, 8000);
  await pauseSchedule(S.TickWorkflow, { scheduleName: "kolkata" });
  const rows = await fires(id);
  for (const r of rows) t.is(r.created_at.getUTCSeconds() % 2, 0, `fired at ${r.created_at.toISOString()}`);
  for (const g of gaps(rows)) t.true(g > 1000, `gap ${g}`);

  // The same expression on UTC's clock: hours away. Updated in place, so still one row.
  const utc = await scheduleWorkflow(S.TickWorkflow, { scheduleName: "kolkata", schedule: expr, args: ["k", new Date()] });
  t.is(utc.timezone, "UTC");
  t.is(utc.status, "active");
  t.deepEqual(utc.createdAt, kolkata.createdAt);
  t.true(utc.nextRunAt!.getTime() - Date.now() > 3 * 3600_000, `UTC next run ${utc.nextRunAt!.toISOString()}`);
  await deleteSchedule(S.TickWorkflow, { scheduleName: "kolkata" });
});

/** Samples a schedule's next_run_at while `live` holds, to see suppressed fires advance it. */
async function advancesWhile(id: number, live: () => Promise<boolean>): Promise<number> {
  const seen = new Set<number>();
  while (await live()) {
    seen.add(await nextRunAt(id));
    await sleep(100);
  }
  return seen.size;
}

test.serial("no overlap by default: no fire while the last instance is queued; the skipped fires still advance next_run_at", async (t) => {
  // An instance that stays queued for a minute stands in as the schedule's last instance.
  const queued = await new S.TickWorkflow().start(["q", new Date()], { delayMs: 60_000 });
  await scheduleWorkflow(S.TickWorkflow, { scheduleName: "overlap-queued", schedule: { everyMs: 3_600_000 }, args: ["q", new Date()] });
  const id = await scheduleId("overlap-queued");
  await db.query(`UPDATE waymark.schedules SET last_instance_id = $2 WHERE id = $1`, [id, queued.instanceId]);
  // Updating in place keeps the last instance.
  const info = await scheduleWorkflow(S.TickWorkflow, { scheduleName: "overlap-queued", schedule: { everyMs: 300 }, args: ["q", new Date()] });
  t.is(info.lastInstanceId, queued.instanceId);
  const first = await nextRunAt(id);
  await waitUntil("three suppressed fires", 5000, async () => (await nextRunAt(id)) >= first + 3 * 300);
  t.is(await queued.status(), "queued");
  t.deepEqual(await fires(id), []);
  t.is((await listSchedules({ workflow: "TickWorkflow" }))[0]!.lastInstanceId, queued.instanceId);
  // Once it is no longer live, the schedule fires again.
  await queued.cancel();
  await waitForFires(id, 1, 5000);
  await deleteSchedule(S.TickWorkflow, { scheduleName: "overlap-queued" });
  t.pass();
});

for (const [what, W, status] of [
  ["running (a slow action)", "SlowWorkflow", "running"],
  ["sleeping (a durable sleep)", "NapWorkflow", "sleeping"],
] as const) {
  test.serial(`no overlap by default: no fire while the last instance is ${what}`, async (t) => {
    const cls = W === "SlowWorkflow" ? S.SlowWorkflow : S.NapWorkflow;
    await scheduleWorkflow(cls as never, { scheduleName: `overlap-${status}`, schedule: { everyMs: 300 }, args: [2500] });
    const id = await scheduleId(`overlap-${status}`);
    const [first] = await waitForFires(id, 1, 5000);
    const statuses = new Set<string>();
    const advances = await advancesWhile(id, async () => {
      const [r] = await fires(id);
      statuses.add(r!.status);
      return r!.status !== "completed";
    });
    t.true(statuses.has(status), `statuses seen: ${[...statuses].join(", ")}`);
    t.true(advances >= 3, `next_run_at took ${advances} values while the instance was live`);
    const rows = await waitForFires(id, 2, 5000);
    await deleteSchedule(W, { scheduleName: `overlap-${status}` });
    t.is(rows[0]!.id, first!.id);
    // The second fire came only after the first instance had finished.
    t.true(
      rows[1]!.created_at.getTime() >= rows[0]!.finished_at!.getTime(),
      `second fire ${rows[1]!.created_at.toISOString()} before the first finished ${rows[0]!.finished_at!.toISOString()}`,
    );
  });
}

test.serial("allowDuplicate: true queues a run at every fire, overlapping the ones still running", async (t) => {
  await scheduleWorkflow(S.SlowWorkflow, { scheduleName: "overlap-allowed", schedule: { everyMs: 300 }, args: [2000], allowDuplicate: true });
  const id = await scheduleId("overlap-allowed");
  const rows = await waitForFires(id, 4, 5000);
  await pauseSchedule(S.SlowWorkflow, { scheduleName: "overlap-allowed" });
  t.true((await listSchedules({ status: "paused" }))[0]!.allowDuplicate);
  // All four were queued within one run's time: they overlap.
  t.true(rows[3]!.created_at.getTime() - rows[0]!.created_at.getTime() < 2000, `gaps ${gaps(rows).join(", ")}`);
  for (const g of gaps(rows.slice(0, 4))) t.true(g >= 300, `gap ${g}`);
  await deleteSchedule(S.SlowWorkflow, { scheduleName: "overlap-allowed" });
});

test.serial("pause keeps the row and stops firing; resume counts from now without replaying; delete removes it", async (t) => {
  const name = "pausable";
  await scheduleWorkflow(S.TickWorkflow, { scheduleName: name, schedule: { everyMs: 500 }, args: ["p", new Date()] });
  const id = await scheduleId(name);
  await waitForFires(id, 1, 5000);
  await pauseSchedule(S.TickWorkflow, { scheduleName: name });
  const atPause = (await fires(id)).length;
  t.like(
    (await listSchedules({ status: "paused" })).find((s) => s.scheduleName === name),
    { status: "paused" },
  );
  t.falsy((await listSchedules({ status: "active" })).find((s) => s.scheduleName === name));
  // That a paused schedule never fires, however overdue, is the scheduler's own test
  // (test/supervisor/scheduler.test.ts); here, what the SDK and a running supervisor do.

  // Resume: the next run is now + interval; the four missed fires are not replayed.
  const before = Date.now();
  await resumeSchedule("TickWorkflow", { scheduleName: name });
  const after = Date.now();
  const resumed = (await listSchedules({ status: "active" })).find((s) => s.scheduleName === name)!;
  t.true(resumed.nextRunAt!.getTime() >= before + 500 && resumed.nextRunAt!.getTime() <= after + 500, `next run ${resumed.nextRunAt!.toISOString()}`);
  await waitForFires(id, atPause + 2, 5000);
  await deleteSchedule(S.TickWorkflow, { scheduleName: name });
  const rows = await fires(id);
  t.true(rows[atPause]!.created_at.getTime() >= resumed.nextRunAt!.getTime(), "fired before its resumed next run: missed fires were replayed");
  for (const g of gaps(rows.slice(atPause))) t.true(g >= 500, `gap ${g} after the resume`);

  t.falsy((await listSchedules()).find((s) => s.scheduleName === name));
  t.true((await fires(id)).length >= atPause + 1, "the instances it queued stay");

  for (const fn of [pauseSchedule, resumeSchedule, deleteSchedule]) {
    const e = await t.throwsAsync(fn(S.TickWorkflow, { scheduleName: name }), { message: `no schedule "${name}" for workflow TickWorkflow` });
    t.true(isWaymarkError(e));
    t.is((e as { code?: string }).code, "WAYMARK_NOT_FOUND");
  }
  await t.throwsAsync(pauseSchedule(S.TickWorkflow, { scheduleName: "" }), { instanceOf: ScheduleError, message: /^pauseSchedule needs \{ scheduleName \}/ });
  await t.throwsAsync(listSchedules({ status: "stopped" as never }), {
    instanceOf: ScheduleError,
    message: 'status must be "active" or "paused", got "stopped"',
  });
});

test.serial("calling scheduleWorkflow again updates in place: new cadence, args and jitter, next run recomputed, active again", async (t) => {
  const name = "redefined";
  const created = await scheduleWorkflow(S.TickWorkflow, { scheduleName: name, schedule: "0 0 1 1 *", args: ["old", new Date()] });
  await pauseSchedule(S.TickWorkflow, { scheduleName: name });
  const before = Date.now();
  const updated = await scheduleWorkflow(S.TickWorkflow, {
    scheduleName: name,
    schedule: { everyMs: 800 },
    jitterMs: 400,
    args: ["new", new Date(Date.UTC(2031, 5, 1))],
    priority: -2,
  });
  const after = Date.now();
  t.like(updated, {
    status: "active",
    schedule: { everyMs: 800 },
    cron: null,
    intervalMs: 800,
    jitterMs: 400,
    priority: -2,
    args: ["new", new Date(Date.UTC(2031, 5, 1))],
  });
  t.deepEqual(updated.createdAt, created.createdAt);
  t.true(updated.nextRunAt!.getTime() >= before + 800 && updated.nextRunAt!.getTime() <= after + 1200, `next run ${updated.nextRunAt!.toISOString()}`);
  t.is((await db.query(`SELECT count(*)::int AS n FROM waymark.schedules WHERE schedule_name = $1`, [name])).rows[0].n, 1);

  const id = await scheduleId(name);
  const rows = await waitForFires(id, 4, 8000);
  await deleteSchedule(S.TickWorkflow, { scheduleName: name });
  // Interval plus jitter in [0, 400] (plus a little scheduling latency) between fires.
  for (const g of gaps(rows.slice(0, 4))) t.true(g >= 800 && g < 1200 + 800, `gap ${g}`);
  t.deepEqual(await new WorkflowHandle(rows[0]!.id, "TickWorkflow").result(), { label: "new", year: 2031, seen: new Map([["label", "new"]]) });
  t.is(rows[0]!.priority, -2);
});

test.serial("with a 60 s poll the scheduler waits for a NOTIFY, then fires every due schedule in batches of WAYMARK_SCHEDULER_BATCH_SIZE", async (t) => {
  await db.query(`DELETE FROM waymark.schedules`);
  for (let i = 0; i < 5; i++)
    await scheduleWorkflow(S.TickWorkflow, { scheduleName: `batch-${i}`, schedule: { everyMs: 3_600_000 }, args: [`b${i}`, new Date()] });
  await sleep(300); // the NOTIFYs of those upserts have woken it; it now sleeps (60 s, the poll interval)
  // Due now, but changed behind the scheduler's back (no NOTIFY): it does not look for 60 s.
  await db.query(`UPDATE waymark.schedules SET next_run_at = now() - interval '1 second'`);
  const mark = sup.output().length;
  await sleep(2000);
  const ids = (await db.query(`SELECT id FROM waymark.schedules WHERE schedule_name LIKE 'batch-%'`)).rows.map((r) => r.id);
  const count = async () =>
    (await db.query(`SELECT count(*)::int AS n FROM waymark.instances WHERE schedule_id = ANY($1::bigint[])`, [ids])).rows[0].n as number;
  t.is(await count(), 0, "fired without a NOTIFY: the poll interval is not 60 s");
  await db.query(`SELECT pg_notify('waymark_work', 'schedule')`);
  await waitUntil("five fires", 3000, async () => (await count()) === 5);
  const batches = [
    ...sup
      .output()
      .slice(mark)
      .matchAll(/scheduler batch claimed=(\d+)/g),
  ].map((m) => Number(m[1]));
  t.deepEqual(batches, [2, 2, 1]);
  for (const s of await listSchedules()) t.true(s.nextRunAt!.getTime() > Date.now() + 3_500_000);
  await db.query(`DELETE FROM waymark.schedules`);
});
