import test from "ava";
import { ScheduleError, type WaymarkError } from "waymark";
import { TestEnvironment } from "waymark/testing";
import { Nightly, report, SleepsAWeek, SlowNightly } from "./fixtures/workflows.js";

/**
 * testing/schedules.ts: schedules fire on the virtual clock, with the production cadence
 * (cron-parser, time zones, intervals), overlap suppression, pause and resume.
 */
const T0 = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function environment(t: { teardown(fn: () => unknown): void }, now = T0) {
  const env = await TestEnvironment.create({ now });
  t.teardown(() => env.close());
  return env;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

test("a cron schedule fires on the virtual clock, once per due time, each run a new instance", async (t) => {
  const env = await environment(t);
  const info = await env.scheduleWorkflow(Nightly, { scheduleName: "nightly", schedule: "0 3 * * *", args: ["eu"] });
  t.is(info.schedule, "0 0 3 * * *");
  t.is(iso(info.nextRunAt), "2025-01-01T03:00:00.000Z");
  await env.advanceTime(DAY);
  t.deepEqual(
    env.instances().map((i) => [i.workflowName, i.status, i.scheduleName]),
    [["Nightly", "completed", "nightly"]],
  );
  const [listed] = await env.listSchedules();
  t.is(iso(listed!.lastRunAt), "2025-01-01T03:00:00.000Z");
  t.is(iso(listed!.nextRunAt), "2025-01-02T03:00:00.000Z");
  t.is(await env.getInstance(listed!.lastInstanceId!).result(), "report eu");
  await env.advanceTime(2 * DAY);
  t.deepEqual(
    env.calls(report).map((c) => [c.args, new Date(c.startedAt).toISOString()]),
    [
      [["eu"], "2025-01-01T03:00:00.000Z"],
      [["eu"], "2025-01-02T03:00:00.000Z"],
      [["eu"], "2025-01-03T03:00:00.000Z"],
    ],
  );
});

test("cron runs on the schedule's time zone, across daylight saving time", async (t) => {
  const env = await environment(t);
  const winter = await env.scheduleWorkflow(Nightly, { scheduleName: "berlin", schedule: "0 9 * * *", timezone: "Europe/Berlin", args: ["b"] });
  t.is(iso(winter.nextRunAt), "2025-01-01T08:00:00.000Z");
  const summerEnv = await environment(t, Date.UTC(2025, 6, 1));
  const summer = await summerEnv.scheduleWorkflow(Nightly, { scheduleName: "berlin", schedule: "0 9 * * *", timezone: "Europe/Berlin", args: ["b"] });
  t.is(iso(summer.nextRunAt), "2025-07-01T07:00:00.000Z");
});

test("an interval schedule fires every interval from its creation", async (t) => {
  const env = await environment(t);
  await env.scheduleWorkflow(Nightly, { scheduleName: "five", schedule: { everyMs: 5 * 60_000 }, args: ["i"] });
  await env.advanceTime(16 * 60_000);
  t.deepEqual(
    env.calls(report).map((c) => (c.startedAt - T0) / 60_000),
    [5, 10, 15],
  );
});

test("no new run while the last is still live, unless duplicates are allowed", async (t) => {
  const env = await environment(t);
  // Each run takes 90 minutes: of the fires at 1h, 2h, 3h and 4h, those at 2h and 4h find the last one still sleeping.
  await env.scheduleWorkflow(SlowNightly, { scheduleName: "hourly", schedule: "0 * * * *", args: ["s"] });
  await env.scheduleWorkflow(SlowNightly, { scheduleName: "overlapping", schedule: "0 * * * *", args: ["o"], allowDuplicate: true });
  await env.advanceTime(4.5 * HOUR);
  const fired = (name: string) => env.instances({ workflow: SlowNightly }).filter((i) => i.scheduleName === name).length;
  t.is(fired("hourly"), 2);
  t.is(fired("overlapping"), 4);
});

test("pause stops the fires; resume counts from now and does not replay missed ones; delete removes it", async (t) => {
  const env = await environment(t);
  await env.scheduleWorkflow(Nightly, { scheduleName: "nightly", schedule: "0 3 * * *", args: ["p"] });
  await env.pauseSchedule(Nightly, { scheduleName: "nightly" });
  t.deepEqual(
    (await env.listSchedules({ status: "paused" })).map((s) => s.scheduleName),
    ["nightly"],
  );
  await env.advanceTime(3 * DAY + HOUR);
  t.is(env.calls(report).length, 0);
  await env.resumeSchedule("Nightly", { scheduleName: "nightly" });
  const [resumed] = await env.listSchedules({ workflow: Nightly });
  t.is(resumed!.status, "active");
  t.is(iso(resumed!.nextRunAt), "2025-01-04T03:00:00.000Z");
  await env.advanceTime(DAY);
  t.is(env.calls(report).length, 1);
  await env.deleteSchedule(Nightly, { scheduleName: "nightly" });
  t.deepEqual(await env.listSchedules(), []);
  await env.advanceTime(DAY);
  t.is(env.calls(report).length, 1);
  const e = await t.throwsAsync<WaymarkError>(env.pauseSchedule(Nightly, { scheduleName: "nightly" }));
  t.is(e?.code, "WAYMARK_NOT_FOUND");
});

test("scheduleWorkflow checks what production checks", async (t) => {
  const env = await environment(t);
  await t.throwsAsync(env.scheduleWorkflow(Nightly, { scheduleName: "x", schedule: "61 * * * *" }), {
    instanceOf: ScheduleError,
    message: /cron expression "61 \* \* \* \*" is invalid/,
  });
  await t.throwsAsync(env.scheduleWorkflow(Nightly, { scheduleName: "x", schedule: "0 * * * *", inputs: [] } as never), {
    message: /has no option "inputs" \(did you mean args\?\)/,
  });
  t.deepEqual(await env.listSchedules(), []);
});

test("result() moving the clock fires the schedules due on the way", async (t) => {
  const env = await environment(t);
  await env.scheduleWorkflow(Nightly, { scheduleName: "nightly", schedule: "0 3 * * *", args: ["r"] });
  t.is(await env.run(SleepsAWeek, ["r"]), "r woke");
  t.is(env.calls(report).length, 7);
});
