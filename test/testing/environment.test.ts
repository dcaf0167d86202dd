import test from "ava";
import { InstanceNotFoundError, SerializationError, WorkflowHandle, type WaymarkError } from "waymark";
import { TestEnvironment } from "waymark/testing";
import { Approval, Big, Echo, flakyStep, LogsAround, Money, SleepsAWeek, TenSteps, WaitsForEver } from "./fixtures/workflows.js";

/**
 * testing/environment.ts: the virtual clock (advanceTime, runUntilIdle, result()'s own advances),
 * starts and handles. The clock starts at a fixed time, so every assertion on it is exact.
 */
const T0 = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function environment(t: { teardown(fn: () => unknown): void }, options: Parameters<typeof TestEnvironment.create>[0] = {}) {
  const env = await TestEnvironment.create({ now: T0, ...options });
  t.teardown(() => env.close());
  return env;
}

test("a workflow that sleeps a week returns from run() at once, a week later on the virtual clock", async (t) => {
  const env = await environment(t);
  t.is(await env.run(SleepsAWeek, ["ada"]), "ada woke");
  t.is(env.now(), T0 + 7 * DAY);
});

test("ten steps, two sleeps and a retry: the clock moves by exactly the sleeps and the backoff", async (t) => {
  const env = await environment(t);
  env.mockAction(flakyStep, async (n) => n + 1, { failFirst: 1 });
  t.is(await env.run(TenSteps, [0]), 10);
  t.is(env.now(), T0 + HOUR + 1_000 + DAY);
  t.deepEqual(
    env.calls(flakyStep).map((c) => [c.attempt, c.outcome.status, c.startedAt - T0]),
    [
      [1, "failed", HOUR],
      [2, "completed", HOUR + 1_000],
    ],
  );
});

test("advanceTime fires what is due on the way and stops at now + ms; runUntilIdle never moves the clock", async (t) => {
  const env = await environment(t);
  const h = await env.start(Approval, ["o-1", 3]);
  await env.runUntilIdle();
  t.is(env.now(), T0);
  t.is(await h.status(), "sleeping");
  t.is(await h.published("stage"), "waiting");
  await env.advanceTime(3 * DAY - 1);
  t.is(env.now(), T0 + 3 * DAY - 1);
  t.is(await h.status(), "sleeping");
  await env.advanceTime(1);
  t.is(await h.status(), "completed");
  t.is(await h.published("stage"), "escalated");
  t.is(await h.result(), "escalated o-1");
  t.is(env.now(), T0 + 3 * DAY);
});

test("result() moves the clock only as far as the next due time: an event sent first is taken before the deadline", async (t) => {
  const env = await environment(t);
  const h = await env.start(Approval, ["o-2", 3]);
  await env.advanceTime(DAY);
  await h.sendEvent("approval", { approved: true, by: "ada" });
  t.is(await h.result(), "approved by ada");
  t.is(env.now(), T0 + DAY);
});

test("a start with delayMs is queued until its time comes", async (t) => {
  const env = await environment(t);
  const h = await env.start(SleepsAWeek, ["late"], { delayMs: HOUR });
  t.is(await h.status(), "queued");
  await env.advanceTime(HOUR);
  t.is(await h.status(), "sleeping");
  t.is(await h.result(), "late woke");
  t.is(env.now(), T0 + HOUR + 7 * DAY);
});

test("result() of an instance that waits for something nothing will bring rejects, saying what it waits for", async (t) => {
  const env = await environment(t);
  const h = await env.start(WaitsForEver, []);
  const e = await t.throwsAsync<WaymarkError>(h.result());
  t.is(e?.code, "WAYMARK_TESTING");
  t.regex(e!.message, /would wait for ever: .*WaitsForEver [0-9a-f-]{36} waits for event "never"/);
  t.regex(e!.message, /Send what it waits for \(handle\.sendEvent\) before awaiting result\(\)/);
  // Once it has what it waits for, the same handle gives the result.
  await h.sendEvent("never", "now");
  t.is(await h.result(), "now");
});

test("published() with waitMs waits in virtual time", async (t) => {
  const env = await environment(t);
  const h = await env.start(SleepsAWeek, ["p"]);
  t.is(await h.published("nothing", { waitMs: 5_000 }), undefined);
  t.is(env.now(), T0 + 5_000);
});

test("handles are the production class; an idempotency key gives the first instance; getInstance finds instances of this environment only", async (t) => {
  const env = await environment(t);
  const a = await env.start(SleepsAWeek, ["k"], { idempotencyKey: "once" });
  const b = await env.start(SleepsAWeek, ["other"], { idempotencyKey: "once" });
  t.true(a instanceof WorkflowHandle);
  t.is(a.instanceId, b.instanceId);
  t.is(a.workflowName, "SleepsAWeek");
  t.is(await env.getInstance(a.instanceId.toUpperCase()).status(), "sleeping");
  t.deepEqual(
    env.instances().map((i) => [i.workflowName, i.status]),
    [["SleepsAWeek", "sleeping"]],
  );
  await t.throwsAsync(env.getInstance("0197f000-0000-7000-8000-000000000000").status(), { instanceOf: InstanceNotFoundError });
  await t.throwsAsync(env.getInstance("not-an-id").result(), { instanceOf: InstanceNotFoundError, message: /instance ids are UUIDs/ });
});

test("start() checks what production checks: an argument that cannot be stored is refused before anything runs", async (t) => {
  const env = await environment(t);
  await t.throwsAsync(env.start(Echo, [new Money(5)]), { instanceOf: SerializationError, message: /argument 1 of workflow Echo/ });
  await t.throwsAsync(env.start(Echo, [1], { priority: 1.5 }), { instanceOf: TypeError, message: /priority must be an integer/ });
  await t.throwsAsync(env.start(Echo, [1], { client: {} as never }), { message: /no meaning in a TestEnvironment/ });
  t.deepEqual(env.instances(), []);
  // A value that round-trips comes back as stored: a Map, a Date, undefined in an object.
  const value = { when: new Date(T0), tags: new Map([["a", 1]]), gone: undefined };
  t.deepEqual(await env.run(Echo, [value]), value);
});

test("a workflow's result over WAYMARK_MAX_VALUE_BYTES fails the instance, as in production", async (t) => {
  const env = await environment(t, { maxValueBytes: 2_048 });
  t.is((await env.run(Big, [100])).length, 100);
  const e = await t.throwsAsync<WaymarkError & { errorName: string; errorMessage: string }>(env.run(Big, [5_000]));
  t.is(e?.name, "WorkflowFailedError");
  t.is(e?.errorName, "SerializationError");
  t.regex(e!.errorMessage, /the result of workflow Big is too large to store: over 2048 bytes/);
});

test("a closed environment refuses, and closing twice is safe", async (t) => {
  const env = await TestEnvironment.create();
  const h = await env.start(SleepsAWeek, ["c"]);
  await env.close();
  await env.close();
  await t.throwsAsync(h.status(), { message: "this TestEnvironment is closed" });
  await t.throwsAsync(env.advanceTime(1), { message: "this TestEnvironment is closed" });
  await t.throwsAsync(env.advanceTime(-1), { message: "this TestEnvironment is closed" });
});

test("advanceTime refuses a negative or non-finite duration", async (t) => {
  const env = await environment(t);
  await t.throwsAsync(env.advanceTime(-1), { instanceOf: RangeError });
  await t.throwsAsync(env.advanceTime(Number.NaN), { instanceOf: RangeError });
});

test("create() refuses an option that is not what it says, before it opens anything", async (t) => {
  await t.throwsAsync(TestEnvironment.create({ now: Number.NaN }), { message: /now must be a Date or a finite number of epoch milliseconds, got NaN/ });
  await t.throwsAsync(TestEnvironment.create({ maxValueBytes: 0 }), { message: /maxValueBytes must be a whole number >= 1, got 0/ });
  await t.throwsAsync(TestEnvironment.create({ evictSleepThresholdMs: -1 }), { message: /evictSleepThresholdMs must be a whole number of milliseconds >= 0/ });
});

test("what workflow code logs is listed in order, with its level, line and virtual time, once per executed step", async (t) => {
  const env = await environment(t);
  const h = await env.start(LogsAround, ["ada"]);
  t.is(await h.result(), "ada");
  const logs = env.logs({ instanceId: h.instanceId });
  t.deepEqual(
    logs.map((l) => [l.level, l.message, l.at - T0]),
    [
      ["info", "hello ada", 0],
      ["warn", "woke { name: 'ada' }", 60_000],
    ],
  );
  t.true(logs.every((l) => l.line > 0 && l.workflow === "LogsAround"));
});
