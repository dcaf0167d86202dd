/**
 * Schedule cadences, in one place for the SDK (validating what scheduleWorkflow is given), the
 * supervisor's scheduler and the web app (the next fire time). A bad value is a ScheduleError that
 * shows it and says what is allowed.
 */
import { createRequire } from "node:module";
import type { CronExpressionParser as Parser } from "cron-parser";

// Loaded on first use: importing "waymark" does not pay for cron-parser.
let parser: typeof Parser | undefined;
function cron(): typeof Parser {
  return (parser ??= (createRequire(import.meta.url)("cron-parser") as { CronExpressionParser: typeof Parser }).CronExpressionParser);
}
import { WaymarkError } from "../core/errors.js";
import type { ScheduleRow } from "../store/schedules.js";

/**
 * When a schedule fires: a cron expression (5 fields, normalised to 6 with seconds first, or 6
 * fields) in the schedule's timezone, or a fixed interval whose first run is now + interval and
 * whose next run is the last run + interval. Jitter adds a uniform random delay in [0, jitterMs].
 */
export type Cadence = { kind: "cron"; cron: string; timezone: string } | { kind: "interval"; intervalMs: number; timezone: string };

export class ScheduleError extends WaymarkError {
  constructor(message: string) {
    super("WAYMARK_CONFIG", message);
    this.name = "ScheduleError";
  }
}

/** The longest interval and jitter: long enough for any cadence, short enough for a Date. */
export const MAX_INTERVAL_MS = 100 * 366 * 24 * 3600 * 1000;
/** jitter_ms is an integer column. */
const MAX_JITTER_MS = 2 ** 31 - 1;

/** Cron's nicknames, normalised to 6 fields like every other expression. */
const ALIASES: Readonly<Record<string, string>> = {
  "@yearly": "0 0 0 1 1 *",
  "@annually": "0 0 0 1 1 *",
  "@monthly": "0 0 0 1 * *",
  "@weekly": "0 0 0 * * 0",
  "@daily": "0 0 0 * * *",
  "@midnight": "0 0 0 * * *",
  "@hourly": "0 0 * * * *",
  "@minutely": "0 * * * * *",
  "@secondly": "* * * * * *",
  "@weekdays": "0 0 0 * * 1-5",
  "@weekends": "0 0 0 * * 0,6",
};

/** A value as an error message shows it: strings quoted, numbers as written (NaN, Infinity), objects as JSON. */
export function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value) ?? String(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}

/** Validates an IANA time zone; returns its canonical spelling ("europe/berlin" -> "Europe/Berlin"). */
export function timezoneCheck(timezone: unknown): string {
  const bad = () =>
    new ScheduleError(`timezone ${shown(timezone)} is not a valid IANA time zone: use a name such as "UTC", "Europe/Berlin" or "America/New_York"`);
  if (typeof timezone !== "string" || !timezone.trim()) throw bad();
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    throw bad();
  }
  // Only fix the case: Intl maps some legacy names to others ("EST" -> "America/Panama").
  return resolved.toLowerCase() === timezone.toLowerCase() ? resolved : timezone;
}

/** Validates a cron expression and normalises it to 6 fields (seconds first). */
export function cronNormalize(expr: unknown, timezone = "UTC"): string {
  if (typeof expr !== "string") throw new ScheduleError(`a cron expression must be a string, got ${shown(expr)}`);
  const trimmed = expr.trim().replace(/\s+/g, " ");
  if (!trimmed) throw new ScheduleError('the cron expression is empty: use 5 fields (minute hour day month weekday), e.g. "0 * * * *"');
  let six: string;
  if (trimmed.startsWith("@")) {
    const alias = ALIASES[trimmed.toLowerCase()];
    if (!alias) throw new ScheduleError(`cron expression ${JSON.stringify(expr)} is not a known nickname: use one of ${Object.keys(ALIASES).join(", ")}`);
    six = alias;
  } else {
    const fields = trimmed.split(" ");
    if (fields.length !== 5 && fields.length !== 6) {
      throw new ScheduleError(
        `cron expression ${JSON.stringify(expr)} has ${fields.length} field${fields.length === 1 ? "" : "s"}: use 5 (minute hour day month weekday) or 6 (with seconds first)`,
      );
    }
    // cron-parser picks a random value for H unless given a seed: each computation would differ.
    if (fields.some((f) => /(^|[^a-z])h(?![a-z])/i.test(f))) {
      throw new ScheduleError(
        `cron expression ${JSON.stringify(expr)} uses H (a hashed value), which waymark does not support: write the exact minute or hour`,
      );
    }
    six = fields.length === 5 ? `0 ${trimmed}` : trimmed;
  }
  const tz = timezoneCheck(timezone);
  try {
    cron().parse(six, { tz, strict: false }).next();
  } catch (e) {
    throw new ScheduleError(`cron expression ${JSON.stringify(expr)} is invalid: ${(e as Error).message}`);
  }
  return six;
}

/** Validates a schedule as given to scheduleWorkflow. */
export function cadenceParse(schedule: unknown, timezone: unknown = "UTC"): Cadence {
  const tz = timezoneCheck(timezone);
  if (typeof schedule === "string") return { kind: "cron", cron: cronNormalize(schedule, tz), timezone: tz };
  if (schedule && typeof schedule === "object" && "everyMs" in schedule) {
    const ms = (schedule as { everyMs: unknown }).everyMs;
    if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 1 || ms > MAX_INTERVAL_MS) {
      throw new ScheduleError(
        `an interval schedule needs everyMs as a whole number of milliseconds from 1 to ${MAX_INTERVAL_MS} (100 years), got ${shown(ms)}`,
      );
    }
    return { kind: "interval", intervalMs: ms, timezone: tz };
  }
  throw new ScheduleError(`schedule must be a cron expression ("0 * * * *") or an interval ({ everyMs: 300000 }), got ${shown(schedule)}`);
}

/** Validates jitter as given to scheduleWorkflow. */
export function jitterCheck(jitterMs: unknown): number {
  if (typeof jitterMs !== "number" || !Number.isInteger(jitterMs) || jitterMs < 0 || jitterMs > MAX_JITTER_MS) {
    throw new ScheduleError(`jitterMs must be a whole number of milliseconds from 0 to ${MAX_JITTER_MS}, got ${shown(jitterMs)}`);
  }
  return jitterMs;
}

/**
 * The next fire time, plus a uniform random jitter in [0, jitterMs]. For cron: the first match
 * strictly after `after`. For an interval: `after` + interval (`after` is the last run, or now for
 * a new or resumed schedule).
 */
export function cadenceNext(c: Cadence, p: { after: Date; jitterMs?: number; random?: () => number }): Date {
  const jitter = p.jitterMs ? Math.min(p.jitterMs, Math.floor((p.random ?? Math.random)() * (p.jitterMs + 1))) : 0;
  if (c.kind === "interval") return new Date(p.after.getTime() + c.intervalMs + jitter);
  const next = cron().parse(c.cron, { currentDate: p.after, tz: c.timezone, strict: false }).next().toDate();
  return new Date(next.getTime() + jitter);
}

/** The cadence a stored schedule row describes. */
export function cadenceOf(row: Pick<ScheduleRow, "kind" | "cron" | "intervalMs" | "timezone">): Cadence {
  return row.kind === "cron"
    ? { kind: "cron", cron: row.cron!, timezone: row.timezone }
    : { kind: "interval", intervalMs: row.intervalMs!, timezone: row.timezone };
}

/**
 * What a due schedule does when it fires at `now`, for the supervisor's scheduler and
 * waymark/testing's: whether it queues an instance (not while its last one is queued, running or
 * sleeping, unless duplicates are allowed), and its next run, counted from `now` so missed fires
 * are not replayed (null, with the reason, when its cadence gives none: it stops until it is
 * updated or resumed).
 */
export function scheduleFire(
  row: Pick<ScheduleRow, "kind" | "cron" | "intervalMs" | "timezone" | "jitterMs" | "allowDuplicate">,
  p: { now: Date; lastInstanceActive: boolean; random?: () => number },
): { queue: boolean; nextRunAt: Date | null; error?: string } {
  const queue = row.allowDuplicate || !p.lastInstanceActive;
  try {
    return { queue, nextRunAt: cadenceNext(cadenceOf(row), { after: p.now, jitterMs: row.jitterMs, random: p.random }) };
  } catch (e) {
    return { queue, nextRunAt: null, error: (e as Error).message };
  }
}

/**
 * When a resumed schedule fires next: its cadence computed from `now`, so missed runs are not
 * replayed, plus its jitter. The one rule for resuming, used by resumeSchedule() and the web
 * app's resume action. Throws a ScheduleError naming the schedule when its cadence gives no next
 * run (a cron expression no date matches, such as February 30th).
 */
export function resumeNextRun(
  row: Pick<ScheduleRow, "workflowName" | "scheduleName" | "kind" | "cron" | "intervalMs" | "timezone" | "jitterMs">,
  now = new Date(),
): Date {
  try {
    return cadenceNext(cadenceOf(row), { after: now, jitterMs: row.jitterMs });
  } catch (e) {
    throw new ScheduleError(
      `schedule ${JSON.stringify(row.scheduleName)} of workflow ${row.workflowName} cannot compute its next run (${(e as Error).message}): give it a new cadence with scheduleWorkflow`,
    );
  }
}
