/**
 * The test environment's worker pool: action attempts run in this process, in real time, through
 * the same attempt function as a child's (sdk/action.ts `actionAttempt`: arguments decoded, the
 * result encoded and size-checked, errors as data), each with its `actionContext()` and abort
 * signal. An action can be replaced by a mock; every attempt is recorded for `env.calls()`.
 */
import { decode, errorFromData, errorToData, type ErrorData } from "../core/codec.js";
import { abortReason, RegistrationError, WaymarkError } from "../core/errors.js";
import { attemptCancelled, attemptTimedOut } from "../core/policy.js";
import type { Handle } from "../interpreter/values.js";
import { actionAttempt, actionContext, actionEntryOf, actionRegistry, type ActionEntry, type AttemptOutcome } from "../sdk/action.js";

/** How an attempt went, as `env.calls()` shows it. Values and errors are copies, as the workflow sees them. */
export type AttemptStatus<R = unknown> =
  | { status: "running" }
  | { status: "completed"; value: R }
  | { status: "failed"; error: unknown }
  /** Past its `timeoutMs` (its signal aborted; a late result is discarded), or an `ActionTimeout` it threw. */
  | { status: "timed_out"; error: unknown }
  /** Its instance was cancelled while it ran (its signal aborted; a late result is discarded). */
  | { status: "cancelled"; error: unknown };

/** One attempt of one action call. */
export interface ActionCall<A extends unknown[] = unknown[], R = unknown> {
  action: string;
  instanceId: string;
  /** Names the call in its instance; the same across its attempts (`actionContext().actionId`). */
  actionId: string;
  /** Counts from 1. */
  attempt: number;
  /** The arguments as the action received them (after the trip through the codec). */
  args: A;
  outcome: AttemptStatus<R>;
  /** Virtual times (`env.now()`): the clock stands still while actions run, so these are equal unless an advance was waited out. */
  startedAt: number;
  finishedAt: number | undefined;
}

export interface MockOptions {
  /** Fail the first `failFirst` attempts of every call (attempt <= failFirst), then run the mock. @default 0 */
  failFirst?: number;
  /**
   * What those attempts throw: a value, or a function of the attempt number that makes it.
   * @default an Error saying which attempt of which action failed
   */
  error?: unknown;
}

/** An action's function, or its registered name. */
export type ActionRef = ((...args: never[]) => Promise<unknown>) | string;

/** The longest delay a Node timer holds: a longer timeout is as good as none in a test. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** An attempt the environment waits for: the token names it in its instance's in-flight map. */
export interface Attempt {
  token: string;
  seq: number;
  attempt: number;
  name: string;
  timeoutMs: number;
  controller: AbortController;
  timer: NodeJS.Timeout;
  record: ActionCall;
}

/** What the runner reports back: an attempt ended (it is no longer in its instance's in-flight map). */
export type AttemptSettled = (owner: AttemptOwner, a: Attempt, outcome: AttemptOutcome) => void;

/** The instance side an attempt belongs to. */
export interface AttemptOwner {
  readonly id: string;
  readonly inflight: Map<string, Attempt>;
}

function nameOf(act: ActionRef, what: string): string {
  const name = typeof act === "string" ? act : actionEntryOf(act)?.name;
  if (name === undefined) {
    throw new WaymarkError(
      "WAYMARK_TESTING",
      `${what} takes an action (a function made by action()) or its name, got ${typeof act === "function" ? `the plain function ${act.name || "(anonymous)"}` : typeof act}`,
    );
  }
  return name;
}

function outcomeOf(outcome: AttemptOutcome): AttemptStatus {
  if (outcome.ok) return { status: "completed", value: decode(outcome.value) };
  return { status: outcome.error.name === "ActionTimeout" ? "timed_out" : "failed", error: errorFromData(outcome.error) };
}

export class ActionRunner {
  private readonly mocks = new Map<string, ActionEntry>();
  private readonly records: ActionCall[] = [];
  /** Attempts the environment waits for (not those timed out, cancelled or abandoned). */
  running = 0;

  constructor(
    private readonly o: {
      maxValueBytes: number;
      now: () => number;
      settled: AttemptSettled;
    },
  ) {}

  /** Replaces an action in this environment (by reference or by name). */
  mock(act: ActionRef, impl: (...args: never[]) => unknown, options: MockOptions = {}): void {
    const name = nameOf(act, "mockAction()");
    if (!actionRegistry().has(name)) {
      throw new WaymarkError(
        "WAYMARK_TESTING",
        `mockAction(): no action named "${name}" is registered in this process (registered: ${[...actionRegistry().keys()].join(", ") || "none"})`,
      );
    }
    if (typeof impl !== "function") throw new WaymarkError("WAYMARK_TESTING", `mockAction("${name}", impl): impl must be a function, got ${typeof impl}`);
    const failFirst = options.failFirst ?? 0;
    if (!Number.isInteger(failFirst) || failFirst < 0)
      throw new WaymarkError("WAYMARK_TESTING", `mockAction("${name}"): failFirst must be a whole number >= 0, got ${String(failFirst)}`);
    const made = options.error;
    const fn = async (...args: unknown[]) => {
      const { attempt } = actionContext();
      if (attempt <= failFirst) {
        if (made === undefined) throw new Error(`${name} failed on attempt ${attempt} (mockAction failFirst: ${failFirst})`);
        throw typeof made === "function" ? (made as (attempt: number) => unknown)(attempt) : made;
      }
      return (impl as (...a: unknown[]) => unknown)(...args);
    };
    this.mocks.set(name, { name, fn, where: "mockAction()" });
  }

  /** The attempts of one action (or of all), in the order they started. */
  calls(act?: ActionRef): ActionCall[] {
    if (act === undefined) return [...this.records];
    const name = nameOf(act, "calls()");
    return this.records.filter((r) => r.action === name);
  }

  /** Starts an attempt of a call the machine dispatched (its attempt number already counted). */
  start(owner: AttemptOwner, h: Handle): void {
    const call = h.call!;
    const token = `${owner.id}/${call.seq}/${call.attempt}`;
    const record: ActionCall = {
      action: call.name,
      instanceId: owner.id,
      actionId: String(call.seq),
      attempt: call.attempt,
      args: call.args.map((a) => decode(a)),
      outcome: { status: "running" },
      startedAt: this.o.now(),
      finishedAt: undefined,
    };
    this.records.push(record);
    const controller = new AbortController();
    const a: Attempt = { token, seq: call.seq, attempt: call.attempt, name: call.name, timeoutMs: call.opts.timeoutMs, controller, record, timer: undefined! };
    // The timeout is measured in real time: the action runs in real time, and the virtual clock stands still meanwhile.
    a.timer = setTimeout(() => this.timedOut(owner, a), Math.min(a.timeoutMs, MAX_TIMER_MS));
    owner.inflight.set(token, a);
    this.running++;
    const entry = this.mocks.get(call.name) ?? actionRegistry().get(call.name);
    const run: Promise<AttemptOutcome> = entry
      ? actionAttempt(
          entry,
          { action: call.name, args: call.args, instanceId: owner.id, actionId: String(call.seq), attempt: call.attempt },
          { signal: () => controller.signal },
          this.o.maxValueBytes,
        )
      : Promise.resolve({
          ok: false,
          error: errorToData(
            new RegistrationError(
              `action "${call.name}" is not registered in this process: import the module that defines it (registered here: ${[...actionRegistry().keys()].join(", ") || "none"})`,
            ),
          ),
        });
    void run.then((outcome) => {
      clearTimeout(a.timer);
      const mine = owner.inflight.get(token) === a;
      // A result after a timeout or a cancellation is discarded, and the record keeps what ended it.
      if (record.outcome.status === "running") this.finishRecord(record, outcomeOf(outcome));
      if (!mine) return;
      owner.inflight.delete(token);
      this.running--;
      this.o.settled(owner, a, outcome);
    });
  }

  private finishRecord(record: ActionCall, outcome: AttemptStatus): void {
    record.outcome = outcome;
    record.finishedAt = this.o.now();
  }

  /** Past its timeout: its signal aborts, and it fails as ActionTimeout (retried by its policy). */
  private timedOut(owner: AttemptOwner, a: Attempt): void {
    if (owner.inflight.get(a.token) !== a) return;
    owner.inflight.delete(a.token);
    this.running--;
    a.controller.abort(abortReason("timeout"));
    const error: ErrorData = attemptTimedOut({ action: a.name, timeoutMs: a.timeoutMs, attempt: a.attempt });
    this.finishRecord(a.record, { status: "timed_out", error: errorFromData(error) });
    this.o.settled(owner, a, { ok: false, error });
  }

  /** The instance was cancelled: its attempts' signals abort, and their results will be discarded. */
  cancel(owner: AttemptOwner): void {
    for (const a of owner.inflight.values()) {
      clearTimeout(a.timer);
      this.running--;
      a.controller.abort(abortReason("cancelled"));
      this.finishRecord(a.record, { status: "cancelled", error: errorFromData(attemptCancelled({ action: a.name, started: true })) });
    }
    owner.inflight.clear();
  }

  /** The instance finished with attempts in flight (a Promise.all that rejected early): they run on, unawaited. */
  abandon(owner: AttemptOwner): void {
    for (const a of owner.inflight.values()) {
      clearTimeout(a.timer);
      this.running--;
    }
    owner.inflight.clear();
  }

  /** The environment closes: every attempt still running is aborted (reason: shutdown). */
  close(owners: Iterable<AttemptOwner>): void {
    for (const owner of owners) {
      for (const a of owner.inflight.values()) a.controller.abort(abortReason("shutdown"));
      this.abandon(owner);
    }
  }
}
