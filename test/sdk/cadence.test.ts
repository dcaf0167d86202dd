import test from "ava";
import {
  cadenceNext,
  cadenceOf,
  cadenceParse,
  cronNormalize,
  jitterCheck,
  MAX_INTERVAL_MS,
  resumeNextRun,
  ScheduleError,
  timezoneCheck,
  type Cadence,
} from "../../sdk/cadence.js";
import { isWaymarkError } from "../../core/errors.js";

const at = (iso: string) => new Date(iso);
const next = (c: Cadence, after: string, n = 1) => {
  const out: string[] = [];
  let t = at(after);
  for (let i = 0; i < n; i++) {
    t = cadenceNext(c, { after: t });
    out.push(t.toISOString());
  }
  return out;
};

test("a 5-field cron expression is normalised to 6 fields, seconds first", (t) => {
  t.is(cronNormalize("0 * * * *"), "0 0 * * * *");
  t.is(cronNormalize("*/15 * * * *"), "0 */15 * * * *");
  t.is(cronNormalize("  0   0 * *  1 "), "0 0 0 * * 1");
  t.is(cronNormalize("0 9 * * MON-FRI"), "0 0 9 * * MON-FRI");
  t.deepEqual(cadenceParse("0 0 * * *"), { kind: "cron", cron: "0 0 0 * * *", timezone: "UTC" });
});

test("a 6-field expression keeps its seconds", (t) => {
  t.is(cronNormalize("*/10 * * * * *"), "*/10 * * * * *");
  t.deepEqual(next(cadenceParse("*/10 * * * * *"), "2025-01-01T00:00:03.250Z", 3), [
    "2025-01-01T00:00:10.000Z",
    "2025-01-01T00:00:20.000Z",
    "2025-01-01T00:00:30.000Z",
  ]);
  t.deepEqual(next(cadenceParse("30 15 10 * * *"), "2025-01-01T00:00:00Z", 2), ["2025-01-01T10:15:30.000Z", "2025-01-02T10:15:30.000Z"]);
});

test("nicknames are normalised to 6 fields too, in any case", (t) => {
  t.is(cronNormalize("@hourly"), "0 0 * * * *");
  t.is(cronNormalize("@Daily"), "0 0 0 * * *");
  t.is(cronNormalize("@midnight"), "0 0 0 * * *");
  t.is(cronNormalize("@weekdays"), "0 0 0 * * 1-5");
});

test("the seed's common shapes fire when they should (UTC by default)", (t) => {
  t.deepEqual(next(cadenceParse("0 * * * *"), "2025-01-01T10:59:59.999Z", 2), ["2025-01-01T11:00:00.000Z", "2025-01-01T12:00:00.000Z"]);
  t.deepEqual(next(cadenceParse("*/15 * * * *"), "2025-01-01T10:07:00Z", 2), ["2025-01-01T10:15:00.000Z", "2025-01-01T10:30:00.000Z"]);
  t.deepEqual(next(cadenceParse("0 0 * * *"), "2025-01-01T10:00:00Z"), ["2025-01-02T00:00:00.000Z"]);
  // 2025-01-06 is a Monday.
  t.deepEqual(next(cadenceParse("0 0 * * 1"), "2025-01-01T00:00:00Z", 2), ["2025-01-06T00:00:00.000Z", "2025-01-13T00:00:00.000Z"]);
});

test("the next cron run is strictly after the time given, even when that time matches", (t) => {
  const c = cadenceParse("0 9 * * *");
  t.deepEqual(next(c, "2025-01-01T09:00:00.000Z"), ["2025-01-02T09:00:00.000Z"]);
  t.deepEqual(next(c, "2025-01-01T09:00:00.400Z"), ["2025-01-02T09:00:00.000Z"]);
  t.deepEqual(next(c, "2025-01-01T08:59:59.999Z"), ["2025-01-01T09:00:00.000Z"]);
});

test("cron runs in the schedule's timezone: 9:00 in Berlin stays 9:00 across the DST change", (t) => {
  const berlin = cadenceParse("0 9 * * *", "Europe/Berlin");
  t.is(berlin.timezone, "Europe/Berlin");
  // Summer time starts on 2025-03-30: 9:00 is 08:00 UTC before, 07:00 UTC after.
  t.deepEqual(next(berlin, "2025-03-28T12:00:00Z", 3), ["2025-03-29T08:00:00.000Z", "2025-03-30T07:00:00.000Z", "2025-03-31T07:00:00.000Z"]);
  // And back on 2025-10-26.
  t.deepEqual(next(berlin, "2025-10-25T00:00:00Z", 2), ["2025-10-25T07:00:00.000Z", "2025-10-26T08:00:00.000Z"]);
  // The same expression in UTC, and in New York (DST ends 2025-11-02).
  t.deepEqual(next(cadenceParse("0 9 * * *"), "2025-03-28T12:00:00Z", 2), ["2025-03-29T09:00:00.000Z", "2025-03-30T09:00:00.000Z"]);
  t.deepEqual(next(cadenceParse("0 9 * * *", "America/New_York"), "2025-11-01T12:00:00Z", 2), ["2025-11-01T13:00:00.000Z", "2025-11-02T14:00:00.000Z"]);
});

test("a time zone in the wrong case is accepted and spelled canonically", (t) => {
  t.is(timezoneCheck("europe/berlin"), "Europe/Berlin");
  t.is(timezoneCheck("utc"), "UTC");
  t.is(cadenceParse({ everyMs: 5 }, "america/new_york").timezone, "America/New_York");
  // A valid alias Intl would rename is kept as written (Node 20 says Asia/Calcutta for it).
  t.is(timezoneCheck("Asia/Kolkata"), "Asia/Kolkata");
});

test("an interval's first run is now + interval, and each next run the last run + interval", (t) => {
  const c = cadenceParse({ everyMs: 300_000 });
  t.deepEqual(c, { kind: "interval", intervalMs: 300_000, timezone: "UTC" });
  t.is(cadenceNext(c, { after: at("2025-01-01T00:00:00.123Z") }).toISOString(), "2025-01-01T00:05:00.123Z");
  // A run that started late pushes the next one out by as much (no backlog).
  t.is(cadenceNext(c, { after: at("2025-01-01T00:07:30Z") }).toISOString(), "2025-01-01T00:12:30.000Z");
});

test("jitter adds a uniform random delay in [0, jitterMs]", (t) => {
  const interval = cadenceParse({ everyMs: 1000 });
  const cron = cadenceParse("0 9 * * *");
  const after = at("2025-01-01T00:00:00Z");
  const base = cadenceNext(cron, { after }).getTime();
  t.is(cadenceNext(interval, { after, jitterMs: 500, random: () => 0 }).getTime() - after.getTime(), 1000);
  t.is(cadenceNext(interval, { after, jitterMs: 500, random: () => 0.5 }).getTime() - after.getTime(), 1250);
  t.is(cadenceNext(interval, { after, jitterMs: 500, random: () => 0.999999 }).getTime() - after.getTime(), 1500);
  // Math.random() is below 1, but an injected source may not be: still within bounds.
  t.is(cadenceNext(interval, { after, jitterMs: 500, random: () => 1 }).getTime() - after.getTime(), 1500);
  t.is(cadenceNext(cron, { after, jitterMs: 60_000, random: () => 0.5 }).getTime() - base, 30_000);
  t.is(cadenceNext(cron, { after, jitterMs: 0, random: () => 0.9 }).getTime(), base);
  // With the real random source, every value lands in the window and both ends are reachable.
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const d = cadenceNext(interval, { after, jitterMs: 3 }).getTime() - after.getTime() - 1000;
    t.true(d >= 0 && d <= 3 && Number.isInteger(d), `jitter ${d} is outside [0, 3]`);
    seen.add(d);
  }
  t.deepEqual([...seen].sort(), [0, 1, 2, 3]);
});

test("cadenceOf reads a stored row back", (t) => {
  t.deepEqual(cadenceOf({ kind: "cron", cron: "0 0 9 * * *", intervalMs: null, timezone: "Europe/Berlin" }), {
    kind: "cron",
    cron: "0 0 9 * * *",
    timezone: "Europe/Berlin",
  });
  t.deepEqual(cadenceOf({ kind: "interval", cron: null, intervalMs: 1000, timezone: "UTC" }), { kind: "interval", intervalMs: 1000, timezone: "UTC" });
});

/** Each invalid input, and the message that says what is wrong. */
const invalid: Array<[string, () => unknown, RegExp]> = [
  [
    "too few fields",
    () => cadenceParse("* * * *"),
    /^cron expression "\* \* \* \*" has 4 fields: use 5 \(minute hour day month weekday\) or 6 \(with seconds first\)$/,
  ],
  ["too many fields", () => cadenceParse("0 0 0 * * * *"), /has 7 fields: use 5/],
  ["one word", () => cadenceParse("hourly"), /^cron expression "hourly" has 1 field: use 5/],
  ["empty", () => cadenceParse("   "), /^the cron expression is empty: use 5 fields/],
  [
    "a value out of range",
    () => cadenceParse("61 * * * *"),
    /^cron expression "61 \* \* \* \*" is invalid: Constraint error, got value 61 expected range 0-59$/,
  ],
  ["an hour out of range", () => cadenceParse("0 24 * * *"), /is invalid: Constraint error, got value 24 expected range 0-23/],
  ["a range out of bounds", () => cadenceParse("1-70 * * * *"), /is invalid: Constraint error, got range 1-70 expected range 0-59/],
  ["a zero step", () => cadenceParse("*/0 * * * *"), /is invalid: Constraint error, cannot repeat at every 0 time/],
  ["letters", () => cadenceParse("a b c d e"), /^cron expression "a b c d e" is invalid: Invalid characters, got value: a$/],
  ["an impossible date", () => cadenceParse("0 0 30 2 *"), /^cron expression "0 0 30 2 \*" is invalid: Invalid explicit day of month definition$/],
  ["a weekday out of range", () => cadenceParse("0 9 * * 8"), /got value 8 expected range 0-7/],
  ["an unknown nickname", () => cadenceParse("@fortnightly"), /^cron expression "@fortnightly" is not a known nickname: use one of @yearly, .*@weekends$/],
  [
    "a hashed value",
    () => cadenceParse("H * * * *"),
    /^cron expression "H \* \* \* \*" uses H \(a hashed value\), which waymark does not support: write the exact minute or hour$/,
  ],
  ["a hashed range", () => cadenceParse("0 H(0-5) * * *"), /uses H \(a hashed value\)/],
  ["a cron that is not a string", () => cronNormalize(5), /^a cron expression must be a string, got 5$/],
  [
    "an unknown time zone",
    () => cadenceParse("0 9 * * *", "Europe/Nowhere"),
    /^timezone "Europe\/Nowhere" is not a valid IANA time zone: use a name such as "UTC", "Europe\/Berlin" or "America\/New_York"$/,
  ],
  ["an offset instead of a zone", () => cadenceParse("0 9 * * *", "+02:00"), /^timezone "\+02:00" is not a valid IANA time zone/],
  ["an empty time zone", () => cadenceParse({ everyMs: 1000 }, ""), /^timezone "" is not a valid IANA time zone/],
  ["a time zone that is not a string", () => cadenceParse({ everyMs: 1000 }, 2), /^timezone 2 is not a valid IANA time zone/],
  [
    "a zero interval",
    () => cadenceParse({ everyMs: 0 }),
    new RegExp(`^an interval schedule needs everyMs as a whole number of milliseconds from 1 to ${MAX_INTERVAL_MS} \\(100 years\\), got 0$`),
  ],
  ["a negative interval", () => cadenceParse({ everyMs: -5 }), /needs everyMs as a whole number .* got -5$/],
  ["a fractional interval", () => cadenceParse({ everyMs: 1.5 }), /got 1\.5$/],
  ["an interval as a string", () => cadenceParse({ everyMs: "1000" }), /got "1000"$/],
  ["an infinite interval", () => cadenceParse({ everyMs: Infinity }), /got Infinity$/],
  ["a NaN interval", () => cadenceParse({ everyMs: NaN }), /got NaN$/],
  ["an interval too long for a Date", () => cadenceParse({ everyMs: MAX_INTERVAL_MS + 1 }), /from 1 to \d+ \(100 years\), got \d+$/],
  [
    "neither cron nor interval",
    () => cadenceParse({ every: 1000 }),
    /^schedule must be a cron expression \("0 \* \* \* \*"\) or an interval \(\{ everyMs: 300000 \}\), got \{"every":1000\}$/,
  ],
  ["a number as the schedule", () => cadenceParse(60_000), /^schedule must be a cron expression .* got 60000$/],
  ["no schedule", () => cadenceParse(undefined), /^schedule must be a cron expression .* got undefined$/],
  ["negative jitter", () => jitterCheck(-1), /^jitterMs must be a whole number of milliseconds from 0 to 2147483647, got -1$/],
  ["fractional jitter", () => jitterCheck(0.5), /got 0\.5$/],
  ["jitter as a string", () => jitterCheck("10"), /got "10"$/],
  ["jitter too large for the column", () => jitterCheck(2 ** 31), /got 2147483648$/],
];

for (const [what, fn, message] of invalid) {
  test(`refused with a message that says what is wrong: ${what}`, (t) => {
    const e = t.throws(fn, { instanceOf: ScheduleError, message });
    t.is(e!.name, "ScheduleError");
    t.is((e as ScheduleError).code, "WAYMARK_CONFIG");
    t.true(isWaymarkError(e));
  });
}

test("valid edge values are accepted", (t) => {
  t.is(jitterCheck(0), 0);
  t.is(jitterCheck(2 ** 31 - 1), 2 ** 31 - 1);
  t.is(cadenceParse({ everyMs: 1 }).kind, "interval");
  t.is(cadenceParse({ everyMs: MAX_INTERVAL_MS }).kind, "interval");
  t.is(cronNormalize("0 0 L * *"), "0 0 0 L * *");
  t.is(cronNormalize("0 9 * * THU"), "0 0 9 * * THU"); // the H in THU is not a hash
});

test("a resumed schedule fires next from now, and one whose cadence gives no next run says which and how to fix it", (t) => {
  const now = new Date("2026-03-10T12:00:00Z");
  const row = { workflowName: "W", scheduleName: "hourly", kind: "interval" as const, cron: null, intervalMs: 3_600_000, timezone: "UTC", jitterMs: 0 };
  t.deepEqual(resumeNextRun(row, now), new Date("2026-03-10T13:00:00Z"));
  const feb30 = { ...row, scheduleName: "feb-30", kind: "cron" as const, cron: "0 0 0 30 2 *", intervalMs: null };
  const e = t.throws(() => resumeNextRun(feb30, now), { instanceOf: ScheduleError });
  t.is(
    e.message,
    'schedule "feb-30" of workflow W cannot compute its next run (Invalid explicit day of month definition): give it a new cadence with scheduleWorkflow',
  );
});
