import { CronExpressionParser } from "cron-parser";
import { WaymarkError } from "./errors.js";

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

const ALIASES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@minutely", "@secondly", "@weekdays", "@weekends"]);

export function timezoneCheck(timezone: string): string {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    throw new ScheduleError(`timezone ${JSON.stringify(timezone)} is not a valid IANA time zone: use a name such as "UTC", "Europe/Berlin" or "America/New_York"`);
  }
  return timezone;
}

/** Validates and normalises a cron expression to 6 fields. */
export function cronNormalize(expr: string, timezone = "UTC"): string {
  const trimmed = expr.trim().replace(/\s+/g, " ");
  if (ALIASES.has(trimmed.toLowerCase())) return trimmed.toLowerCase();
  const fields = trimmed.split(" ");
  if (fields.length !== 5 && fields.length !== 6) {
    throw new ScheduleError(`cron expression ${JSON.stringify(expr)} has ${fields.length} fields: use 5 (minute hour day month weekday) or 6 (with seconds first)`);
  }
  const six = fields.length === 5 ? `0 ${trimmed}` : trimmed;
  try {
    CronExpressionParser.parse(six, { tz: timezoneCheck(timezone), strict: false }).next();
  } catch (e) {
    if (e instanceof ScheduleError) throw e;
    throw new ScheduleError(`cron expression ${JSON.stringify(expr)} is invalid: ${(e as Error).message}`);
  }
  return six;
}

export function cadenceParse(schedule: string | { everyMs: number }, timezone = "UTC"): Cadence {
  timezoneCheck(timezone);
  if (typeof schedule === "string") return { kind: "cron", cron: cronNormalize(schedule, timezone), timezone };
  if (schedule && typeof schedule === "object" && "everyMs" in schedule) {
    const ms = schedule.everyMs;
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 1 || !Number.isInteger(ms)) {
      throw new ScheduleError(`an interval schedule needs everyMs as a whole number of milliseconds >= 1, got ${String(ms)}`);
    }
    return { kind: "interval", intervalMs: ms, timezone };
  }
  throw new ScheduleError(`schedule must be a cron expression ("0 * * * *") or an interval ({ everyMs: 300000 }), got ${JSON.stringify(schedule)}`);
}

/**
 * The next fire time. For cron: the first time after `after`. For an interval: `from` + interval
 * (`from` is the last run, or now for a new or resumed schedule).
 */
export function cadenceNext(c: Cadence, p: { after: Date; jitterMs?: number; random?: () => number }): Date {
  const jitter = p.jitterMs ? Math.floor((p.random ?? Math.random)() * (p.jitterMs + 1)) : 0;
  if (c.kind === "interval") return new Date(p.after.getTime() + c.intervalMs + jitter);
  const next = CronExpressionParser.parse(c.cron, { currentDate: p.after, tz: c.timezone, strict: false }).next().toDate();
  return new Date(next.getTime() + jitter);
}
