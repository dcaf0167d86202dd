/**
 * Retry, backoff and timeout semantics of an action call, decided in one place:
 *
 * - Without a `retry` option, an explicit error is not retried, and an `ActionTimeout` (a
 *   timed-out attempt, or one whose child process died) is retried without limit, with the
 *   call's backoff or else the default timeout backoff (immediately, then 1 s doubling to 60 s).
 * - With a `retry` option, it governs every failure: `attempts` counts executions, and
 *   `exceptionTypes` (when given) lists the error names that are retried ("ActionTimeout"
 *   included). Its waits use the call's `backoff`, or none.
 * - Each attempt times out after `timeoutMs` (default 5 minutes).
 */
import type { ErrorData } from "./codec.js";
import { limitKey } from "./flow.js";

export interface RetryOptions {
  attempts: number;
  exceptionTypes?: string[];
}

export interface BackoffOptions {
  baseDelayMs: number;
  multiplier: number;
  maxDelayMs?: number;
  jitter: boolean;
}

export interface ActionOptions {
  retry?: RetryOptions;
  backoff?: BackoffOptions;
  timeoutMs: number;
  /** The budget of the action's limits this call counts against (core/flow.ts); none: the action's one budget. */
  limitKey?: string;
}

/**
 * Workflow-wide defaults: a workflow class's `retry`, `backoff` and `timeoutMs` instance
 * properties, stored in its IR. Each `runAction` option overrides its own field only.
 */
export type ActionDefaults = Partial<ActionOptions>;

/** The instance properties read as defaults. */
export const DEFAULT_FIELDS = ["retry", "backoff", "timeoutMs"] as const;

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_TIMEOUT_BACKOFF: BackoffOptions = { baseDelayMs: 1000, multiplier: 2, maxDelayMs: 60_000, jitter: false };

function bad(message: string): never {
  throw new TypeError(`invalid action options: ${message}`);
}

function num(value: unknown, what: string, min: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) bad(`${what} must be a number >= ${min}, got ${String(value)}`);
  return value;
}

function plain(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) bad(`${what} must be an object, got ${String(value)}`);
  return value as Record<string, unknown>;
}

function known(obj: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of Object.keys(obj)) if (!keys.includes(k)) bad(`unknown ${what} option "${k}" (allowed: ${keys.join(", ")})`);
}

export function retryOptions(raw: unknown): RetryOptions {
  const o = plain(raw, "retry");
  known(o, ["attempts", "exceptionTypes"], "retry");
  const attempts = num(o.attempts, "retry.attempts", 1);
  if (!Number.isInteger(attempts)) bad(`retry.attempts must be a whole number, got ${attempts}`);
  const out: RetryOptions = { attempts };
  if (o.exceptionTypes !== undefined) {
    if (!Array.isArray(o.exceptionTypes) || o.exceptionTypes.some((t) => typeof t !== "string")) bad("retry.exceptionTypes must be an array of error names");
    out.exceptionTypes = [...(o.exceptionTypes as string[])];
  }
  return out;
}

export function backoffOptions(raw: unknown): BackoffOptions {
  const o = plain(raw, "backoff");
  known(o, ["baseDelayMs", "multiplier", "maxDelayMs", "jitter"], "backoff");
  const out: BackoffOptions = {
    baseDelayMs: num(o.baseDelayMs, "backoff.baseDelayMs", 0),
    multiplier: o.multiplier === undefined ? 1 : num(o.multiplier, "backoff.multiplier", 0),
    jitter: o.jitter === undefined ? false : Boolean(o.jitter),
  };
  if (o.maxDelayMs !== undefined) out.maxDelayMs = num(o.maxDelayMs, "backoff.maxDelayMs", 0);
  return out;
}

/**
 * Validates and normalises a workflow's defaults (absent fields stay absent). Throws a TypeError
 * whose message starts with the field's name.
 */
export function actionDefaults(raw: { retry?: unknown; backoff?: unknown; timeoutMs?: unknown }): ActionDefaults {
  const out: ActionDefaults = {};
  const field = <T>(name: string, read: () => T): T => {
    try {
      return read();
    } catch (e) {
      throw new TypeError(`${name}: ${(e as Error).message.replace(/^invalid action options: /, "")}`);
    }
  };
  if (raw.retry !== undefined && raw.retry !== null) out.retry = field("retry", () => retryOptions(raw.retry));
  if (raw.backoff !== undefined && raw.backoff !== null) out.backoff = field("backoff", () => backoffOptions(raw.backoff));
  if (raw.timeoutMs !== undefined && raw.timeoutMs !== null) out.timeoutMs = field("timeoutMs", () => num(raw.timeoutMs, "timeoutMs", 1));
  return out;
}

/** Validates and normalises `runAction` options (plain objects or RetryPolicy/BackoffPolicy data). */
export function actionOptions(raw: unknown, defaults?: ActionDefaults): ActionOptions {
  const out: ActionOptions = { timeoutMs: defaults?.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  if (defaults?.retry) out.retry = defaults.retry;
  if (defaults?.backoff) out.backoff = defaults.backoff;
  if (raw === undefined || raw === null) return out;
  const o = plain(raw, "options");
  known(o, ["retry", "backoff", "timeoutMs", "timeout", "limitKey"], "action");
  if (o.retry !== undefined) out.retry = retryOptions(o.retry);
  if (o.backoff !== undefined) out.backoff = backoffOptions(o.backoff);
  const timeout = o.timeoutMs ?? o.timeout;
  if (timeout !== undefined) out.timeoutMs = num(timeout, "timeoutMs", 1);
  if (o.limitKey !== undefined) {
    try {
      out.limitKey = limitKey(o.limitKey);
    } catch (e) {
      bad((e as Error).message);
    }
  }
  return out;
}

/** Delay before retry `n` (n = 1 for the first retry). */
function backoffDelay(b: BackoffOptions, n: number, random: () => number = Math.random): number {
  let delay = b.baseDelayMs * b.multiplier ** (n - 1);
  if (b.maxDelayMs !== undefined) delay = Math.min(delay, b.maxDelayMs);
  if (b.jitter) delay = delay * random();
  return Math.max(0, Math.round(delay));
}

/** Whether the failed attempt number `attempt` is retried, and after how long. */
export function retryDecision(
  opts: ActionOptions,
  attempt: number,
  error: ErrorData,
  random?: () => number,
): { retry: false } | { retry: true; delayMs: number } {
  const timedOut = error.name === "ActionTimeout";
  if (opts.retry) {
    const { attempts, exceptionTypes } = opts.retry;
    if (attempt >= attempts) return { retry: false };
    if (exceptionTypes && !exceptionTypes.includes(error.name)) return { retry: false };
    return { retry: true, delayMs: opts.backoff ? backoffDelay(opts.backoff, attempt, random) : 0 };
  }
  if (!timedOut) return { retry: false };
  if (opts.backoff) return { retry: true, delayMs: backoffDelay(opts.backoff, attempt, random) };
  return { retry: true, delayMs: attempt === 1 ? 0 : backoffDelay(DEFAULT_TIMEOUT_BACKOFF, attempt - 1, random) };
}

/** The error of an attempt that ran past its timeout: an `ActionTimeout`, retried by the call's policy. */
export function attemptTimedOut(p: { action: string; timeoutMs: number; attempt: number }): ErrorData {
  return { name: "ActionTimeout", message: `${p.action} did not finish within ${p.timeoutMs} ms (attempt ${p.attempt})` };
}

/** What an attempt in flight when its instance was cancelled is recorded with. */
export function attemptCancelled(p: { action: string; started: boolean }): ErrorData {
  return { name: "WorkflowCancelledError", message: `the workflow was cancelled while ${p.action} ${p.started ? "ran" : "waited to start"}` };
}
