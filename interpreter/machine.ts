/**
 * The interpreter's driver, and all a shard talks to: a Machine holds one instance's state
 * (fibers, handles, action calls, timers), is started or restored, runs until every fiber waits,
 * hands over the action calls to dispatch, and takes their results and failures (deciding
 * retries by the call's policy). It does no I/O and reads no clock: the caller passes `now`.
 */
import type { Pos, WorkflowIR, WorkflowLogLevel } from "../core/ir.js";
import { ArrayTexts, checkSize, decode, DEFAULT_MAX_VALUE_BYTES, encode, errorFromData, type Encoded, type ErrorData } from "../core/codec.js";
import { bind, iterate } from "./bind.js";
import type { Runtime } from "./evaluate.js";
import { actionOptions, retryDecision, type ActionDefaults } from "../core/policy.js";
import { interpreterMade } from "../core/builtins.js";
import { DEFAULT_STEP_LIMIT, LOG_RECORDS_PER_RUN, SLICE_STEPS } from "../core/limits.js";
import { logMessage } from "./format.js";
import { step } from "./step.js";
import { ACTION_REFS, CLOSURES, Env, Fiber, Handle, MachineFault, PromiseFace, type Effect, type InboxMessage } from "./values.js";
import { uuidv7 } from "../core/ids.js";
import { childSettlement, instanceFinished, instanceNotFound, noVersion, type ChildOutcome } from "./world.js";
import { checkName, idempotencyKey, isInstanceId, waitTimeout } from "../core/mailbox.js";

/** A record of the workflow's log, made by `console.log(...)` (or `log.info(...)`) in its code. */
export interface LogRecord {
  /** Its number in the instance, from 1; the snapshot keeps the count, so a resumed instance numbers on. */
  seq: number;
  /** When it was made: the `now` of the run that made it (epoch milliseconds). */
  at: number;
  level: WorkflowLogLevel;
  /** Its line in the workflow's file (in its class, without a source). */
  line: number;
  /** The call's node id (`log@line:column` in the class). */
  node: string;
  message: string;
}

const NO_LOGS: readonly LogRecord[] = Object.freeze([]);
const NO_HANDLES: ReadonlySet<Handle> = new Set();
const NONE_BY_SEQ: ReadonlyMap<number, Handle> = new Map();
const NONE_BY_ID: ReadonlyMap<string, Handle> = new Map();

export type Outcome = { status: "completed"; value: unknown } | { status: "failed"; error: unknown };

export interface MachineOptions {
  /** Steps an instance may run without waiting before it fails. @default DEFAULT_STEP_LIMIT */
  stepLimit?: number;
  /**
   * Where the workflow class is: its file, and the line the IR's positions count from. Used for
   * the stacks of errors the workflow makes and for the locations in limit errors.
   */
  source?: { file: string; line: number };
  /** Largest stored form of one action call's arguments. @default DEFAULT_MAX_VALUE_BYTES */
  maxValueBytes?: number;
  /** Makes the ids of child instances. @default uuidv7 */
  newId?: () => string;
}

/** How an effect went, as store/events.ts reports it. */
export interface EffectResult {
  r: "sent" | "duplicate" | "not_found" | "finished" | "ok" | "no_version" | "retry";
  id?: string;
}

/**
 * The workflow ran more steps without waiting than its limit allows (an endless loop, or a long
 * computation that belongs in an action). It fails the instance; the workflow cannot catch it.
 */
export class WorkflowLimitError extends MachineFault {
  readonly code = "WAYMARK_WORKFLOW_LIMIT";
  constructor(message: string) {
    super(message);
    this.name = "WorkflowLimitError";
  }
}

/**
 * Runs a compiled workflow as data: fibers (function activations) stepping through flat
 * instruction lists, waiting on handles (actions, sleeps, joins, other fibers). Everything it
 * holds is plain state that `snapshotWrite` writes and `snapshotRead` reads back (snapshot.ts),
 * so an instance can stop after any step and continue on another supervisor.
 *
 * The machine is deterministic given the results it is fed; time enters only through `now`.
 */
export class Machine implements Runtime {
  /** The text of large arrays of plain values as last written, so a snapshot encodes only what they added (core/codec.ts). */
  readonly arrayTexts = new ArrayTexts();
  seq = 0;
  hseq = 0;
  fseq = 0;
  main = 0;
  /** Settled with the workflow's outcome (run's result, adopting a returned handle). */
  mainHandle: Handle | null = null;
  fibers = new Map<number, Fiber>();
  outcome: Outcome | undefined;
  /** Pending action handles by call sequence number. */
  readonly actions = new Map<number, Handle>();
  /** Handles with a wake-up time: sleeps, and actions waiting out a backoff (made at the first). */
  private timerSet: Set<Handle> | undefined;
  readonly runnable: Fiber[] = [];
  private readonly toDispatch: Handle[] = [];
  /** Effects not yet acknowledged (new, or sent and awaiting their outcome), by sequence number (made at the first). */
  private effectMap: Map<number, Handle> | undefined;
  /** Pending waits for events, oldest first: the oldest wait on a name takes its next message. */
  readonly waits: Handle[] = [];
  /** Children this instance waits for, by child instance id (made at the first). */
  private childMap: Map<string, Handle> | undefined;
  /**
   * Messages read from the mailboxes and not taken yet, by position. Not part of the snapshot:
   * a restored machine reads the unconsumed ones again (seenPos starts at 0).
   */
  readonly inbox: InboxMessage[] = [];
  /** The mailbox position read up to. */
  seenPos = 0;
  /** Positions taken since the last write: that write (with the state that took them) consumes them. */
  consumed: number[] = [];
  now = 0;
  /**
   * The workflow's action defaults, from its IR: a new instance and a restored one (on any
   * supervisor) read the same ones, those of the version the instance started on.
   */
  readonly defaults: ActionDefaults;
  /** Steps run since the instance last waited (every fiber blocked). */
  steps = 0;
  /** The step count at which step() next calls `checkpoint` (the end of a slice, or the limit). */
  checkAt = SLICE_STEPS;
  /** How deep step() calls nest (a synchronous callback, an async call's first part): 1 at the top. */
  depth = 0;
  /** The innermost fiber running now: its instruction is where errors and limits are located. */
  cur: Fiber | null = null;
  /** Log records made and not yet taken (`takeLogs`). */
  private readonly logs: LogRecord[] = [];
  /** The number of the last log record made: kept in the snapshot. */
  logSeq = 0;
  /** Log records made since the instance last waited; those past LOG_RECORDS_PER_RUN are only counted. */
  private logsThisRun = 0;
  private logsDropped: { n: number; at: Pos; node: string } | null = null;
  readonly stepLimit: number;

  constructor(
    readonly ir: WorkflowIR,
    readonly options: MachineOptions = {},
  ) {
    this.defaults = ir.defaults ?? {};
    this.stepLimit = options.stepLimit ?? DEFAULT_STEP_LIMIT;
    this.checkAt = Math.min(SLICE_STEPS, this.stepLimit + 1);
  }

  // Timers, effects and children are collections most instances never use (a one-action
  // workflow has none): each is made when the first goes in, and reads see an empty one until
  // then. Three Maps and Sets per instance were a twentieth of what the supervisor allocated.
  get timers(): ReadonlySet<Handle> {
    return this.timerSet ?? NO_HANDLES;
  }
  get effects(): ReadonlyMap<number, Handle> {
    return this.effectMap ?? NONE_BY_SEQ;
  }
  get children(): ReadonlyMap<string, Handle> {
    return this.childMap ?? NONE_BY_ID;
  }
  /** A handle that wakes at a time (a sleep, a timed wait, a retry's backoff). */
  addTimer(h: Handle): void {
    (this.timerSet ??= new Set()).add(h);
  }
  /** An effect not yet acknowledged (also for a restored snapshot). */
  addEffect(h: Handle): void {
    (this.effectMap ??= new Map()).set(h.effect!.seq, h);
  }
  /** A child this instance waits for (also for a restored snapshot). */
  addChild(h: Handle): void {
    (this.childMap ??= new Map()).set(h.childId!, h);
  }

  /** A new instance: the main fiber runs `run(...args)`. */
  static start(ir: WorkflowIR, args: unknown[], now: number, options?: MachineOptions): Machine {
    const m = new Machine(ir, options);
    m.now = now;
    const fiber = m.newFiber(0, new Env(null), m.newHandle("fiber"));
    m.main = fiber.id;
    m.mainHandle = fiber.handle;
    fiber.handle!.handled = true;
    m.sealed(() => {
      try {
        m.bindParams(fiber, args);
        m.runnable.push(fiber);
      } catch (e) {
        m.finishFiber(fiber, false, e);
      }
    });
    return m;
  }

  /**
   * Runs workflow code: errors the host makes meanwhile (V8's TypeErrors) capture no stack of the
   * supervisor's own; the interpreter gives them the workflow's (`located`).
   */
  private sealed<T>(fn: () => T): T {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return fn();
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  /**
   * Runs the runnable fibers until all wait. Fires due timers first. A long run hands the event
   * loop back every SLICE_STEPS steps: it returns with `yielded()` true, and the next call goes on.
   */
  run(now: number): void {
    this.now = now;
    this.sealed(() => this.runFibers());
  }

  /** Whether the last run stopped to hand the event loop back, with fibers still to run. */
  yielded(): boolean {
    return this.runnable.length > 0 && !this.outcome;
  }

  private runFibers(): void {
    const now = this.now;
    for (const h of [...this.timers]) {
      if (h.kind === "sleep" && h.wakeAt! <= now) {
        this.timerSet?.delete(h);
        this.settle(h, true, h.sleepValue);
      } else if (h.kind === "event" && h.wakeAt! <= now) {
        // The wait timed out: it gives undefined, and its mailbox is left for a later wait.
        this.removeWait(h);
        this.settle(h, true, undefined);
      } else if (h.kind === "act" && h.call!.status === "waiting" && h.call!.retryAt! <= now) {
        this.timerSet?.delete(h);
        h.call!.status = "new";
        this.toDispatch.push(h);
      }
    }
    while (this.runnable.length && !this.outcome) {
      const f = this.runnable.shift()!;
      if (this.fibers.has(f.id) && this.exec(f) === "yield") {
        this.runnable.unshift(f);
        return;
      }
    }
    this.steps = 0;
    this.checkAt = Math.min(SLICE_STEPS, this.stepLimit + 1);
    this.endLogRun();
  }

  /** Every fiber waits (or the workflow ended): a new run may log again; dropped records are told. */
  private endLogRun(): void {
    this.logsThisRun = 0;
    const d = this.logsDropped;
    if (!d) return;
    this.logsDropped = null;
    this.logs.push({
      seq: ++this.logSeq,
      at: this.now,
      level: "warn",
      line: this.line(d.at),
      node: d.node,
      message: `${d.n} more log record(s) dropped: a workflow makes at most ${LOG_RECORDS_PER_RUN} between two waits`,
    });
  }

  /** The log records made since the last call, oldest first. */
  takeLogs(): readonly LogRecord[] {
    return this.logs.length ? this.logs.splice(0) : NO_LOGS;
  }

  /** A position of the IR as a line of the workflow's file. */
  private line(at: Pos): number {
    const src = this.options.source;
    return src ? src.line + at[0] - 1 : at[0];
  }

  /**
   * Called by step() every SLICE_STEPS steps: past the step limit the instance fails; otherwise
   * a fiber at the top hands the event loop back ("yield"). Inside a callback it cannot: it is
   * asked again at every step until the run is back at the top.
   */
  checkpoint(f: Fiber): boolean {
    if (this.steps > this.stepLimit) throw this.stepLimitError();
    if (this.depth === 1 && f.handle) {
      this.checkAt = Math.min(this.steps + SLICE_STEPS, this.stepLimit + 1);
      return true;
    }
    this.checkAt = this.steps + 1;
    return false;
  }

  /** Gives an error the workflow made (or the host made while running it) the stack of the workflow's code. */
  located(e: Error): void {
    e.stack = `${typeof e.stack === "string" ? e.stack : String(e)}\n    at ${this.frame()}`;
  }

  /** The running instruction as a stack frame: `Workflow.run (file:line:column)`. */
  frame(): string {
    const f = this.cur;
    const fn = f ? this.ir.fns[f.fn] : undefined;
    const name = !fn || fn.arrow ? "<anonymous>" : `${this.ir.name}.${fn.name}`;
    const src = this.options.source;
    // The instruction running now, or the nearest one before it that has a position (a jump has none).
    let at: Pos | undefined;
    for (let pc = f?.pc ?? -1; fn && pc >= 0 && !at; pc--) at = (fn.code[pc] as { at?: Pos } | undefined)?.at;
    const [line, column] = at ?? fn?.pos ?? [1, 1];
    return `${name} (${src ? `${src.file}:${src.line + line - 1}` : `<workflow ${this.ir.name}>:${line}`}:${column})`;
  }

  /** The error for a run past the step limit, at the instruction running now. */
  stepLimitError(): WorkflowLimitError {
    return new WorkflowLimitError(
      `workflow ${this.ir.name} ran ${this.stepLimit} steps without waiting (the limit, WAYMARK_WORKFLOW_STEP_LIMIT) at ${this.frame()}: ` +
        "an endless loop, or a long computation that belongs in an action",
    );
  }

  /** Action calls to dispatch now (each marked running with its next attempt number). */
  takeDispatches(): Handle[] {
    const out: Handle[] = [];
    for (const h of this.toDispatch.splice(0)) {
      if (h.state !== "pending" || h.call!.status !== "new") continue;
      h.call!.status = "running";
      h.call!.attempt += 1;
      this.inflight++;
      out.push(h);
    }
    return out;
  }

  /** Actions marked running: after a restore, attempts whose fate is unknown. */
  running(): Handle[] {
    return [...this.actions.values()].filter((h) => h.call!.status === "running");
  }

  /** The earliest wake-up time of a sleep or a retry backoff. */
  nextWakeAt(): number | undefined {
    let min: number | undefined;
    for (const h of this.timers) {
      const t = h.kind === "act" ? h.call!.retryAt! : h.wakeAt!;
      if (min === undefined || t < min) min = t;
    }
    return min;
  }

  /** Action calls marked running (dispatched, result not yet applied). */
  private inflight = 0;

  /** A dispatch that never reached a worker (shutdown): back to "new", as if never taken. */
  undispatch(seq: number, attempt: number): void {
    const h = this.actions.get(seq);
    if (h?.state !== "pending" || h.call!.status !== "running" || h.call!.attempt !== attempt) return;
    h.call!.status = "new";
    h.call!.attempt -= 1;
    this.inflight--;
  }

  /** Whether anything is in flight or could run without a timer firing (effects awaiting their outcome included). */
  busy(): boolean {
    return this.runnable.length > 0 || this.toDispatch.length > 0 || this.inflight > 0 || this.effects.size > 0;
  }

  /** Whether it waits on the world: a message, or a child's end. */
  waitsOnWorld(): boolean {
    return this.waits.length > 0 || this.children.size > 0;
  }

  /** Effects to write now (each marked sent): they go out once the state that made them is durable. */
  takeEffects(): Handle[] {
    const out: Handle[] = [];
    for (const h of this.effects.values()) {
      if (h.effect!.status !== "new") continue;
      h.effect!.status = "sent";
      out.push(h);
    }
    return out;
  }

  /** An effect that was taken but will not go out now (shutdown): taken again by the next owner. */
  untakeEffect(seq: number): void {
    const h = this.effects.get(seq);
    if (h?.effect?.status === "sent") h.effect.status = "new";
  }

  /** The outcome of a written effect. Returns false for one this machine no longer waits on. */
  effectDone(seq: number, result: EffectResult): boolean {
    const h = this.effects.get(seq);
    const effect = h?.effect;
    if (!h || !effect || effect.status !== "sent") return false;
    this.sealed(() => {
      if (result.r === "retry") {
        effect.status = "new";
        return;
      }
      this.effectMap?.delete(seq);
      // A child's start stays on its handle: it names the workflow waited for (instance views).
      if (h.kind !== "child") h.effect = undefined;
      if (h.state !== "pending") return; // a child that ended before its start was acknowledged
      if (result.r === "not_found" || result.r === "finished") {
        const to = effect.kind === "send" ? effect.to : "";
        return this.settle(h, false, result.r === "not_found" ? instanceNotFound(to) : instanceFinished(to));
      }
      if (result.r === "no_version" && effect.kind === "start") {
        this.childMap?.delete(effect.childId);
        return this.settle(h, false, noVersion(effect.workflow));
      }
      if (effect.kind === "start" && effect.detached) return this.settle(h, true, { instanceId: result.id ?? effect.childId });
      // A child it waits for: started, it settles when the child's end reaches the mailbox.
      if (effect.kind === "start") return;
      this.settle(h, true, undefined);
    });
    return true;
  }

  /**
   * Messages read from the mailboxes (in position order), and the position of the latest sent
   * when they were read: each goes to the oldest wait on its name (or to the child it reports
   * on), or stays for a later wait.
   */
  deliver(messages: InboxMessage[], sent: number): void {
    for (const m of messages) {
      if (m.position <= this.seenPos) continue;
      this.inbox.push(m);
    }
    this.seenPos = Math.max(this.seenPos, sent, ...messages.map((m) => m.position));
    this.sealed(() => this.matchInbox());
  }

  private matchInbox(): void {
    for (let i = 0; i < this.inbox.length; ) {
      const m = this.inbox[i]!;
      const h = m.childId !== null ? this.children.get(m.childId) : this.waits.find((w) => w.event!.name === m.name);
      if (!h) {
        i++;
        continue;
      }
      this.inbox.splice(i, 1);
      this.consumed.push(m.position);
      if (h.kind === "child") {
        this.childMap?.delete(h.childId!);
        const o = childSettlement(h.childId!, m.payload as unknown as ChildOutcome);
        this.settle(h, o.ok, o.value);
      } else {
        this.removeWait(h);
        this.settle(h, true, decode(m.payload));
      }
    }
  }

  private removeWait(h: Handle): void {
    const i = this.waits.indexOf(h);
    if (i >= 0) this.waits.splice(i, 1);
  }

  /** The positions taken since the last call: the write that carries this state consumes them. */
  takeConsumed(): number[] {
    return this.consumed.splice(0);
  }

  /** The result of an attempt. Returns false for a stale attempt (already timed out or superseded). */
  actionSucceeded(seq: number, attempt: number, value: unknown): boolean {
    const h = this.actions.get(seq);
    if (h?.state !== "pending" || h.call!.status !== "running" || h.call!.attempt !== attempt) return false;
    this.inflight--;
    this.actions.delete(seq);
    this.settle(h, true, value);
    return true;
  }

  /**
   * A failed attempt: retried (now, or after a backoff) or rejected, per the call's options.
   * Returns undefined for a stale attempt.
   */
  actionFailed(seq: number, attempt: number, error: ErrorData, now: number, random?: () => number): { retry: boolean; delayMs?: number } | undefined {
    const h = this.actions.get(seq);
    if (h?.state !== "pending" || h.call!.status !== "running" || h.call!.attempt !== attempt) return undefined;
    this.inflight--;
    const decision = retryDecision(h.call!.opts, attempt, error, random);
    if (!decision.retry) {
      this.actions.delete(seq);
      this.settle(h, false, errorFromData(error));
      return { retry: false };
    }
    h.call!.lastError = error;
    if (decision.delayMs <= 0) {
      h.call!.status = "new";
      this.toDispatch.push(h);
    } else {
      h.call!.status = "waiting";
      h.call!.retryAt = now + decision.delayMs;
      this.addTimer(h);
    }
    return { retry: true, delayMs: decision.delayMs };
  }

  // ---- Runtime (called by the evaluator) ----

  closure(fn: number, env: Env): (...args: unknown[]) => unknown {
    const info = { fn, env };
    // The info, not the arguments, names the function: a restore fills it in after the fact.
    const f = interpreterMade((...args: unknown[]) => this.callFunction(info.fn, info.env, args));
    CLOSURES.set(f, info);
    return f;
  }

  actionRef(name: string, node: string): (...args: unknown[]) => unknown {
    const f = interpreterMade((...args: unknown[]) => this.startAction(name, node, args, undefined));
    ACTION_REFS.set(f, { name, node });
    return f;
  }

  startAction(name: string, node: string, args: unknown[], opts: unknown): PromiseFace {
    const encoded = args.map((a, i) => encode(a, `argument ${i + 1} of action ${name}`));
    checkSize(encoded, `the arguments of action ${name}`, this.options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
    const h = this.newHandle("act");
    h.call = { seq: ++this.seq, name, node, args: encoded, opts: actionOptions(opts, this.defaults), attempt: 0, status: "new" };
    this.actions.set(h.call.seq, h);
    this.toDispatch.push(h);
    return h.face;
  }

  sleep(ms: unknown, value: unknown, node: string): PromiseFace {
    void node;
    const n = Number(ms);
    const h = this.newHandle("sleep");
    h.wakeAt = this.now + (Number.isFinite(n) && n > 0 ? n : 0);
    h.sleepValue = value;
    if (h.wakeAt <= this.now) this.settle(h, true, value);
    else this.addTimer(h);
    return h.face;
  }

  join(items: unknown, settled: boolean, node: string): PromiseFace {
    void node;
    const list = iterate(items);
    const h = this.newHandle("all");
    h.items = list;
    h.settled = settled;
    h.remaining = 0;
    for (const value of list) {
      const item = PromiseFace.handleOf(value);
      if (item) {
        item.handled = true;
        if (item.state === "pending") {
          h.remaining++;
          item.parents.push(h);
        }
      }
    }
    this.checkJoin(h);
    return h.face;
  }

  callHelper(fn: number, args: unknown[]): unknown {
    return this.callFunction(fn, null, args);
  }

  waitForEvent(name: unknown, opts: unknown, node: string): PromiseFace {
    const event = checkName(name, "an event name");
    const timeoutMs = waitTimeout(opts);
    const h = this.newHandle("event");
    h.event = { seq: ++this.seq, name: event, node };
    this.waits.push(h);
    this.matchInbox();
    if (h.state === "pending" && timeoutMs !== undefined) {
      h.wakeAt = this.now + timeoutMs;
      // `timeoutMs: 0` takes a message already read, or gives undefined at once.
      if (timeoutMs === 0) {
        this.removeWait(h);
        this.settle(h, true, undefined);
      } else this.addTimer(h);
    }
    return h.face;
  }

  private effect(kind: Handle["kind"], effect: Effect): PromiseFace {
    const h = this.newHandle(kind);
    h.effect = effect;
    this.addEffect(h);
    return h.face;
  }

  private stored(value: unknown, what: string): Encoded {
    const encoded = encode(value, what);
    checkSize(encoded, what, this.options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
    return encoded;
  }

  publish(key: unknown, value: unknown, node: string): PromiseFace {
    const k = checkName(key, "a publish key");
    const stored = this.stored(value, `the value published as ${JSON.stringify(k)}`);
    return this.effect("effect", { seq: ++this.seq, node, status: "new", kind: "publish", key: k, value: stored });
  }

  sendEvent(args: unknown[], node: string): PromiseFace {
    const [to, name, payload, opts] = args;
    if (!isInstanceId(to)) {
      const h = this.newHandle("effect");
      this.settle(h, false, instanceNotFound(String(to)));
      return h.face;
    }
    const event = checkName(name, "an event name");
    const stored = this.stored(payload, `the payload of event ${JSON.stringify(event)}`);
    const key = idempotencyKey(opts, "sendEvent");
    return this.effect("effect", { seq: ++this.seq, node, status: "new", kind: "send", to: to.toLowerCase(), name: event, payload: stored, key });
  }

  startChild(workflow: string, args: unknown[], opts: unknown, detached: boolean, node: string): PromiseFace {
    let list = args;
    if (detached) {
      const [first] = args;
      if (first !== undefined && !Array.isArray(first))
        throw new TypeError(`start() of workflow ${workflow} takes its arguments as an array: start([a, b], options)`);
      list = (first as unknown[] | undefined) ?? [];
    }
    const encoded = list.map((a, i) => encode(a, `argument ${i + 1} of workflow ${workflow}`));
    checkSize(encoded, `the arguments of workflow ${workflow}`, this.options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
    const key = detached ? idempotencyKey(opts, "start") : null;
    const childId = (this.options.newId ?? uuidv7)();
    const face = this.effect(detached ? "effect" : "child", {
      seq: ++this.seq,
      node,
      status: "new",
      kind: "start",
      workflow,
      childId,
      args: encoded,
      key,
      detached,
    });
    if (!detached) {
      const h = PromiseFace.handleOf(face)!;
      h.childId = childId;
      this.addChild(h);
    }
    return face;
  }

  print(level: WorkflowLogLevel, args: unknown[], at: Pos, node: string): void {
    if (this.logsThisRun >= LOG_RECORDS_PER_RUN) {
      this.logsDropped = { n: (this.logsDropped?.n ?? 0) + 1, at, node };
      return;
    }
    this.logsThisRun++;
    let message: string;
    try {
      message = logMessage(args);
    } catch (e) {
      message = `(the arguments could not be formatted: ${(e as Error)?.message ?? String(e)})`;
    }
    this.logs.push({ seq: ++this.logSeq, at: this.now, level, line: this.line(at), node, message });
  }

  // ---- internals ----

  private newHandle(kind: Handle["kind"]): Handle {
    return new Handle(++this.hseq, kind);
  }

  private newFiber(fn: number, env: Env, handle: Handle | null): Fiber {
    const f = new Fiber(++this.fseq, fn, env, handle);
    if (handle) this.fibers.set(f.id, f);
    return f;
  }

  private bindParams(fiber: Fiber, args: unknown[]): void {
    bind(this, this.ir.fns[fiber.fn]!.params, args, fiber.env);
  }

  /** Calls a helper or closure: sync functions run to completion, async ones become fibers. */
  callFunction(fn: number, parent: Env | null, args: unknown[]): unknown {
    const ir = this.ir.fns[fn];
    if (!ir) throw new MachineFault(`no function ${fn}`);
    const env = new Env(parent);
    if (!ir.async) {
      const fiber = new Fiber(0, fn, env, null);
      this.bindParams(fiber, args);
      return this.execSync(fiber);
    }
    const handle = this.newHandle("fiber");
    const fiber = this.newFiber(fn, env, handle);
    try {
      this.bindParams(fiber, args);
    } catch (e) {
      this.fibers.delete(fiber.id);
      this.settle(handle, false, e);
      return handle.face;
    }
    // Like a native async call: the body runs at once, up to its first pending await.
    this.exec(fiber);
    return handle.face;
  }

  private execSync(fiber: Fiber): unknown {
    let result: unknown;
    let threw = false;
    let error: unknown;
    const done = (ok: boolean, v: unknown) => {
      if (ok) result = v;
      else {
        threw = true;
        error = v;
      }
    };
    if (step(this, fiber, done) === "blocked") throw new MachineFault("a synchronous function awaited");
    if (threw) throw error;
    return result;
  }

  private exec(fiber: Fiber): "blocked" | "done" | "yield" {
    return step(this, fiber, (ok, v) => this.finishFiber(fiber, ok, v));
  }

  finishFiber(fiber: Fiber, ok: boolean, v: unknown): void {
    this.fibers.delete(fiber.id);
    if (fiber.handle) this.resolve(fiber.handle, ok, v);
  }

  /** Settles an async function's handle; returning a handle adopts its outcome, as `return promise` does. */
  private resolve(h: Handle, ok: boolean, value: unknown): void {
    const v = ok ? PromiseFace.handleOf(value) : undefined;
    if (v) {
      v.handled = true;
      if (v.state === "pending") {
        h.adopt = true;
        v.parents.push(h);
        return;
      }
      return this.settle(h, v.state === "ok", v.value);
    }
    this.settle(h, ok, value);
  }

  private settle(h: Handle, ok: boolean, v: unknown): void {
    if (h.state !== "pending") return;
    h.state = ok ? "ok" : "err";
    h.value = v;
    this.timerSet?.delete(h);
    if (h === this.mainHandle) this.outcome = ok ? { status: "completed", value: v } : { status: "failed", error: v };
    for (const id of h.waiters) {
      const fiber = this.fibers.get(id);
      if (!fiber) continue;
      fiber.wait = null;
      fiber.resume = { ok, v };
      this.runnable.push(fiber);
    }
    h.waiters = [];
    const parents = h.parents;
    h.parents = [];
    for (const p of parents) {
      if (p.state !== "pending") continue;
      if (p.adopt) {
        this.settle(p, ok, v);
        continue;
      }
      p.remaining!--;
      this.checkJoin(p, h);
    }
  }

  /**
   * A join after `child` settled (or, without it, when the join is made: then every item is
   * looked at once). Promise.all rejects with the first rejection, at once.
   */
  private checkJoin(h: Handle, child?: Handle): void {
    const items = h.items!;
    if (!h.settled) {
      if (child) {
        if (child.state === "err") return this.settle(h, false, child.value);
      } else {
        for (const value of items) {
          const item = PromiseFace.handleOf(value);
          if (item?.state === "err") return this.settle(h, false, item.value);
        }
      }
    }
    if (h.remaining! > 0) return;
    const values = items.map((value) => {
      const item = PromiseFace.handleOf(value);
      if (!item) return h.settled ? { status: "fulfilled", value } : value;
      if (!h.settled) return item.value;
      return item.state === "ok" ? { status: "fulfilled", value: item.value } : { status: "rejected", reason: item.value };
    });
    this.settle(h, true, values);
  }

  /** Re-queues restored state: runnable fibers, undispatched actions, and effects to write again. */
  resumeAfterRestore(order: number[] = []): void {
    // An effect shown sent may or may not have been written before the stop: written again, it
    // changes nothing twice (store/events.ts) and answers as it did.
    for (const h of this.effects.values()) h.effect!.status = "new";
    // Fibers not waiting run: resumed ones, and one that handed the event loop back mid-run
    // (in the order they were queued, then any others by creation).
    const ready = new Set([...order.map((id) => this.fibers.get(id)), ...this.fibers.values()]);
    for (const f of ready) if (f && !f.wait) this.runnable.push(f);
    for (const h of this.actions.values()) {
      if (h.call!.status === "new") this.toDispatch.push(h);
      else if (h.call!.status === "running") this.inflight++;
    }
  }
}
