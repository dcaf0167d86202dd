/**
 * Flow control for actions: an action's cluster-wide limits (`concurrency`, `rateLimit`),
 * validated where the action is registered, and the per-call `limitKey` that gives each key its
 * own budget. Enforced by the supervisors' limiters (supervisor/limiter.ts) against shared rows
 * (migrations/0006).
 */
export interface ActionLimits {
  /** At most this many attempts running at once, cluster-wide (per key). */
  concurrency?: number;
  /** At most `limit` attempt starts in any window of `periodMs`, cluster-wide (per key). */
  rateLimit?: { limit: number; periodMs: number };
}

/** The longest period a timer can wait for, and the largest count Postgres's integers hold. */
const MAX = 2 ** 31 - 1;

function whole(value: unknown, what: string, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > MAX) {
    throw new TypeError(`${what} must be a whole number from ${min} to ${MAX}, got ${typeof value === "number" ? String(value) : typeof value}`);
  }
  return value;
}

/**
 * The limits of `action(fn, options)`, checked: `concurrency` and `rateLimit.limit` whole numbers
 * of at least 1, `rateLimit.periodMs` a whole number of milliseconds from 1 to 2^31-1. Throws a
 * TypeError saying which field is wrong; undefined when the options set no limit.
 */
export function actionLimits(raw: unknown): ActionLimits | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new TypeError(`the options must be an object such as { concurrency: 5 }, got ${typeof raw}`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== "concurrency" && k !== "rateLimit") throw new TypeError(`unknown option "${k}" (allowed: concurrency, rateLimit)`);
  }
  const out: ActionLimits = {};
  if (o.concurrency !== undefined) out.concurrency = whole(o.concurrency, "concurrency", 1);
  if (o.rateLimit !== undefined) {
    const r = o.rateLimit as Record<string, unknown> | null;
    if (typeof r !== "object" || r === null || Array.isArray(r)) throw new TypeError("rateLimit must be an object such as { limit: 100, periodMs: 60_000 }");
    for (const k of Object.keys(r)) if (k !== "limit" && k !== "periodMs") throw new TypeError(`unknown rateLimit option "${k}" (allowed: limit, periodMs)`);
    out.rateLimit = { limit: whole(r.limit, "rateLimit.limit", 1), periodMs: whole(r.periodMs, "rateLimit.periodMs", 1) };
  }
  return out.concurrency === undefined && out.rateLimit === undefined ? undefined : out;
}

/** A call's `limitKey` option: a non-empty string of at most 256 characters. */
export function limitKey(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 256) {
    throw new TypeError(
      `limitKey must be a non-empty string of at most 256 characters, got ${typeof value === "string" ? `a string of ${value.length} characters` : typeof value}`,
    );
  }
  return value;
}
