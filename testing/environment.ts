/**
 * `TestEnvironment`: waymark in one process, for tests. Workflows run through the same compiler,
 * interpreter and codec as in production, with the same retry, backoff, timeout, cancellation,
 * event, child-workflow and schedule semantics (the code is shared: interpreter/drive.ts,
 * core/policy.ts, sdk/action.ts, sdk/cadence.ts, sdk/schedules.ts, sdk/handle.ts); storage is
 * in memory (testing/engine.ts) and time is virtual: it moves only when the test advances it, or
 * when `result()` waits for an instance that waits on nothing but time.
 */
import { decode, DEFAULT_MAX_VALUE_BYTES, type Encoded } from "../core/codec.js";
import { InstanceFinishedError, InstanceNotFoundError, WaymarkError } from "../core/errors.js";
import { hostEnter } from "../core/hosts.js";
import { uuidv7 } from "../core/ids.js";
import { DEFAULT_STEP_LIMIT } from "../core/limits.js";
import { definitionOf } from "../sdk/definition.js";
import { type ChildInfo, type InstanceBackend, WorkflowHandle, type SendEventOptions } from "../sdk/handle.js";
import type { InstanceStatus, ScheduleInfo, ScheduleOptions, StartOptions, Workflow } from "../sdk/index.js";
import type { WorkflowRef } from "../sdk/schedules.js";
import { outcomeValue, startCheck } from "../sdk/settings.js";
import type { RunArgs, RunResult } from "../sdk/workflow.js";
import type { ActionCall, ActionRef, MockOptions } from "./actions.js";
import { Engine, finished, type TestInstance } from "./engine.js";
import { Schedules } from "./schedules.js";

export interface TestEnvironmentOptions {
  /** The virtual clock's start, as a Date or epoch milliseconds. @default the real time now */
  now?: Date | number;
  /** Makes the jitter of backoffs and schedules (production: Math.random). @default Math.random */
  random?: () => number;
  /** WAYMARK_MAX_VALUE_BYTES. @default 10 MiB */
  maxValueBytes?: number;
  /** WAYMARK_MAX_STATE_BYTES. @default 50 MiB */
  maxStateBytes?: number;
  /** WAYMARK_WORKFLOW_STEP_LIMIT. @default 50,000,000 */
  workflowStepLimit?: number;
  /** WAYMARK_EVICT_SLEEP_THRESHOLD_MS: waits at least this long go out of memory and come back from their written state. @default 10,000 */
  evictSleepThresholdMs?: number;
  /** How many times one `result()` may move the clock on its own before it gives up (a workflow that sleeps for ever). @default 100,000 */
  autoAdvanceLimit?: number;
}

/** An instance as `env.instances()` lists it. */
export interface TestInstanceInfo {
  instanceId: string;
  workflowName: string;
  status: InstanceStatus;
  parentId: string | null;
  detached: boolean;
  /** The schedule that fired it, if one did. */
  scheduleName: string | null;
}

type WorkflowClass<W> = abstract new () => W;
type AnyAction = (...args: never[]) => Promise<unknown>;

function describeWait(inst: TestInstance): string {
  const m = inst.machine;
  const what: string[] = [];
  for (const w of m?.waits ?? []) what.push(`event ${JSON.stringify(w.event!.name)}`);
  for (const id of m?.children.keys() ?? []) what.push(`child instance ${id}`);
  return `${inst.def.name} ${inst.id} waits for ${what.join(" and ") || "nothing"}`;
}

/** Refuses an option that is not what it says, naming it. */
function optionsCheck(options: TestEnvironmentOptions, now: number): void {
  const bad = (name: string, value: unknown, allowed: string) =>
    new WaymarkError("WAYMARK_TESTING", `TestEnvironment.create(): ${name} must be ${allowed}, got ${String(value)}`);
  if (!Number.isFinite(now)) throw bad("now", options.now, "a Date or a finite number of epoch milliseconds");
  if (options.random !== undefined && typeof options.random !== "function") throw bad("random", options.random, "a function returning a number in [0, 1)");
  for (const key of ["maxValueBytes", "maxStateBytes", "workflowStepLimit", "autoAdvanceLimit"] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw bad(key, v, "a whole number >= 1");
  }
  const evict = options.evictSleepThresholdMs;
  if (evict !== undefined && !(Number.isInteger(evict) && evict >= 0)) throw bad("evictSleepThresholdMs", evict, "a whole number of milliseconds >= 0");
}

export class TestEnvironment {
  private readonly engine: Engine;
  private readonly schedules: Schedules;
  /** Time moves one mover at a time (advanceTime, result, published). */
  private timeLock: Promise<unknown> = Promise.resolve();
  private readonly release: () => void;
  private readonly backend: InstanceBackend;
  private readonly maxValueBytes: number;

  private constructor(private readonly options: TestEnvironmentOptions) {
    const now = options.now instanceof Date ? options.now.getTime() : (options.now ?? Date.now());
    optionsCheck(options, now);
    this.release = hostEnter("testing");
    const random = options.random ?? Math.random;
    const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    this.maxValueBytes = maxValueBytes;
    this.engine = new Engine(now, {
      maxValueBytes,
      maxStateBytes: options.maxStateBytes ?? 50 * 2 ** 20,
      stepLimit: options.workflowStepLimit ?? DEFAULT_STEP_LIMIT,
      evictSleepThresholdMs: options.evictSleepThresholdMs ?? 10_000,
      random,
    });
    this.schedules = new Schedules(this.engine, { maxValueBytes, random });
    this.backend = {
      maxValueBytes,
      result: (id) => this.resultOf(this.instance(id)),
      status: async (id) => {
        const inst = this.instance(id);
        await this.engine.whenIdle();
        return inst.status;
      },
      cancel: async (id) => {
        const inst = this.instance(id);
        const before = this.engine.cancel(inst);
        this.engine.pump();
        return before;
      },
      sendEvent: async (id, name, payload, key) => this.sendTo(id, name, payload, key),
      published: (id, key, waitMs) => this.publishedOf(this.instance(id), key, waitMs),
      children: async (id) => {
        const inst = this.instance(id);
        await this.engine.whenIdle();
        return inst.children.map((c): ChildInfo => ({ instanceId: c.id, workflow: c.def.name, status: c.status, detached: c.o.detached }));
      },
    };
  }

  /**
   * An environment: in memory, in this process, on a virtual clock. Refused (WAYMARK_TESTING) in a
   * process that runs a waymark supervisor.
   */
  static async create(options: TestEnvironmentOptions = {}): Promise<TestEnvironment> {
    return new TestEnvironment(options);
  }

  private open(): void {
    if (this.engine.closed) throw new WaymarkError("WAYMARK_TESTING", "this TestEnvironment is closed");
  }

  private instance(id: string): TestInstance {
    this.open();
    const inst = this.engine.instances.get(id.toLowerCase());
    if (!inst) throw new InstanceNotFoundError(id, ": no instance of that id was started in this TestEnvironment");
    return inst;
  }

  private handle<T>(inst: TestInstance): WorkflowHandle<T> {
    return new WorkflowHandle<T>(inst.id, inst.def.name, this.backend);
  }

  // ---- time ----

  /** The virtual clock, in epoch milliseconds. */
  now(): number {
    return this.engine.now;
  }

  /** Runs `fn` with the clock to itself: one mover at a time. */
  private moving<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.timeLock.then(fn, fn);
    this.timeLock = run.catch(() => undefined);
    return run;
  }

  /** Moves the clock to `t` (never back) and fires what is due then: schedules, then instances. */
  private moveTo(t: number): void {
    if (t > this.engine.now) this.engine.now = t;
    this.schedules.fireDue();
    this.engine.wakeDue();
    this.engine.pump();
  }

  /** The earliest due time: instances' timers and delayed starts, and (`withSchedules`) schedules' next runs. */
  private nextDue(withSchedules: boolean): number | undefined {
    const a = this.engine.nextWakeAt();
    const b = withSchedules ? this.schedules.nextDue() : undefined;
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  /**
   * Runs until nothing can run without time passing: every instance waits on time, an event or a
   * child, and no action is in flight (actions run in real time, so this waits for them). The
   * clock does not move.
   */
  async runUntilIdle(): Promise<void> {
    this.open();
    await this.engine.whenIdle();
  }

  /**
   * Moves the clock forward by `ms`, firing everything due on the way in time order (sleeps,
   * backoffs, event timeouts, delayed starts, schedules), running the environment until idle
   * between, and returns with the clock at now + ms.
   */
  async advanceTime(ms: number): Promise<void> {
    this.open();
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0)
      throw new RangeError(`advanceTime(ms) takes a finite number of milliseconds >= 0, got ${String(ms)}`);
    await this.moving(async () => {
      const target = this.engine.now + ms;
      await this.advanceUntil(target, () => false);
      this.moveTo(target);
      await this.engine.whenIdle();
    });
  }

  /** Fires what is due up to `target` in order, idle between, until `done()`. Returns whether it is done. */
  private async advanceUntil(target: number, done: () => boolean): Promise<boolean> {
    for (;;) {
      await this.engine.whenIdle();
      if (done()) return true;
      const next = this.nextDue(true);
      if (next === undefined || next > target) return false;
      this.moveTo(next);
    }
  }

  // ---- instances ----

  /**
   * Queues an instance, as `new Workflow().start(args, options)` does, and runs its workflow code
   * up to its first wait; returns at once (its first actions may still be running). The handle is
   * the production class, asking this environment.
   */
  async start<W extends Workflow>(workflow: WorkflowClass<W>, args: RunArgs<W>, options: StartOptions = {}): Promise<WorkflowHandle<RunResult<W>>> {
    this.open();
    const def = definitionOf(workflow);
    if (options.client !== undefined)
      throw new WaymarkError("WAYMARK_TESTING", "start() with { client } (a Postgres transaction) has no meaning in a TestEnvironment: start it without");
    const encoded = startCheck(def.name, (args ?? []) as unknown[], options, this.maxValueBytes);
    if (options.idempotencyKey !== undefined) {
      const existing = this.engine.byKey(def.name, options.idempotencyKey);
      if (existing) return this.handle(existing);
    }
    const inst = this.engine.create(def, encoded, { id: uuidv7(), idempotencyKey: options.idempotencyKey ?? null, delayMs: options.delayMs });
    this.engine.pump();
    return this.handle(inst);
  }

  /** Starts an instance and waits for its result (`handle.result()`: the clock moves on its own). */
  async run<W extends Workflow>(workflow: WorkflowClass<W>, args: RunArgs<W>, options: StartOptions = {}): Promise<RunResult<W>> {
    return (await this.start(workflow, args, options)).result();
  }

  /** A handle on an instance of this environment, by id (its methods reject with InstanceNotFoundError for another id). */
  getInstance<T = unknown>(instanceId: string): WorkflowHandle<T> {
    return new WorkflowHandle<T>(typeof instanceId === "string" ? instanceId.toLowerCase() : String(instanceId), undefined, this.backend);
  }

  /** `sendEvent(instanceId, name, payload, options)`, to an instance of this environment. */
  sendEvent(instanceId: string, name: string, payload?: unknown, options: SendEventOptions = {}): Promise<void> {
    return this.getInstance(instanceId).sendEvent(name, payload, options);
  }

  /** Every instance of this environment (the clock's and the world's state as it is now), in start order. */
  instances(filter: { workflow?: WorkflowRef; status?: InstanceStatus } = {}): TestInstanceInfo[] {
    const name = filter.workflow === undefined ? undefined : typeof filter.workflow === "string" ? filter.workflow : definitionOf(filter.workflow).name;
    return [...this.engine.instances.values()]
      .filter((i) => (name === undefined || i.def.name === name) && (filter.status === undefined || i.status === filter.status))
      .map((i) => ({
        instanceId: i.id,
        workflowName: i.def.name,
        status: i.status,
        parentId: i.o.parentId,
        detached: i.o.detached,
        scheduleName: i.o.scheduleName,
      }));
  }

  private async sendTo(id: string, name: string, payload: Encoded, key: string | null): Promise<void> {
    this.open();
    const r = this.engine.send(id, name, payload, key, null);
    if (r === "not_found") throw new InstanceNotFoundError(id, ": no instance of that id was started in this TestEnvironment");
    if (r === "finished") throw new InstanceFinishedError(id);
    this.engine.pump();
  }

  /**
   * The outcome, once the instance has finished. Meanwhile the environment runs until idle; when
   * nothing can run and no action is in flight, the clock jumps to the next due time anywhere in
   * the environment (a sleep, a backoff, an event's deadline, a delayed start; schedules due on
   * the way fire), and so on. With nothing due at all, the instance would wait for ever: it
   * rejects (WAYMARK_TESTING) saying what it waits for.
   */
  private async resultOf(inst: TestInstance): Promise<unknown> {
    const limit = this.options.autoAdvanceLimit ?? 100_000;
    let moves = 0;
    for (;;) {
      await this.engine.whenIdle();
      if (finished(inst.status)) break;
      this.open();
      await this.moving(async () => {
        await this.engine.whenIdle();
        if (finished(inst.status)) return;
        // Instances' due times drive it; schedules due before fire on the way, in order.
        const due = this.engine.nextWakeAt();
        if (due === undefined) throw this.waitsForEver(inst);
        const next = Math.min(due, this.schedules.nextDue() ?? due);
        if (++moves > limit) {
          throw new WaymarkError(
            "WAYMARK_TESTING",
            `result() of ${inst.def.name} ${inst.id} moved the clock ${limit} times and it has not finished (autoAdvanceLimit): a workflow that sleeps in an endless loop?`,
          );
        }
        this.moveTo(next);
      });
    }
    return outcomeValue({ id: inst.id, workflowName: inst.def.name, status: inst.status, result: inst.result, error: inst.error });
  }

  private waitsForEver(inst: TestInstance): WaymarkError {
    const waiting = [...this.engine.instances.values()].filter((i) => !finished(i.status) && i.machine?.waitsOnWorld());
    return new WaymarkError(
      "WAYMARK_TESTING",
      `result() of ${inst.def.name} ${inst.id} would wait for ever: nothing in this TestEnvironment is due at any time, and ${waiting.map(describeWait).join("; ") || "nothing can run"}. ` +
        "Send what it waits for (handle.sendEvent) before awaiting result(), or cancel it",
    );
  }

  private async publishedOf(inst: TestInstance, key: string, waitMs: number): Promise<unknown> {
    const read = () => inst.published.get(key);
    await this.engine.whenIdle();
    if (!read() && waitMs > 0) {
      // Waits up to waitMs of virtual time for a first value.
      await this.moving(async () => {
        const target = this.engine.now + waitMs;
        if (!(await this.advanceUntil(target, () => read() !== undefined))) {
          this.moveTo(target);
          await this.engine.whenIdle();
        }
      });
    }
    const got = read();
    return got ? decode(got.value) : undefined;
  }

  // ---- actions ----

  /**
   * Replaces an action (by reference or by name) in this environment: every attempt of it runs
   * `impl` instead, with the same arguments, `actionContext()` and codec round trip. With
   * `failFirst: n`, attempts 1 to n of each call throw (`options.error`, or an Error) first.
   */
  mockAction<F extends AnyAction>(act: F, impl: (...args: Parameters<F>) => Awaited<ReturnType<F>> | ReturnType<F>, options?: MockOptions): void;
  mockAction(act: string, impl: (...args: never[]) => unknown, options?: MockOptions): void;
  mockAction(act: ActionRef, impl: (...args: never[]) => unknown, options?: MockOptions): void {
    this.open();
    this.engine.actions.mock(act, impl, options);
  }

  /** The attempts of an action so far (by reference or by name; all actions without one), in start order. */
  calls<F extends AnyAction>(act: F): Array<ActionCall<Parameters<F>, Awaited<ReturnType<F>>>>;
  calls(act?: string): ActionCall[];
  calls(act?: ActionRef): ActionCall[] {
    return this.engine.actions.calls(act);
  }

  /**
   * What workflow code logged (`console.*` and `log.*` in `run()`), in order: level, message,
   * line, the virtual time it was made at, and its instance. In production the same records go
   * to the supervisor's log and the instance page.
   */
  logs(filter: { instanceId?: string } = {}): Array<{ instanceId: string; workflow: string; level: string; message: string; line: number; at: number }> {
    return this.engine.logs
      .filter((r) => filter.instanceId === undefined || r.instanceId === filter.instanceId)
      .map((r) => ({ instanceId: r.instanceId, workflow: r.workflow, level: r.level, message: r.message, line: r.line, at: r.at }));
  }

  // ---- schedules (the production functions' names and checks) ----

  /** `scheduleWorkflow`, on the virtual clock: the next run is computed from `env.now()`. */
  async scheduleWorkflow(workflow: abstract new (...args: never[]) => unknown, options: ScheduleOptions): Promise<ScheduleInfo> {
    this.open();
    return this.schedules.upsert(workflow, options);
  }

  async pauseSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
    this.open();
    this.schedules.pause(workflow, options);
  }

  async resumeSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
    this.open();
    this.schedules.resume(workflow, options);
  }

  async deleteSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
    this.open();
    this.schedules.delete(workflow, options);
  }

  async listSchedules(options: { status?: "active" | "paused"; workflow?: WorkflowRef } = {}): Promise<ScheduleInfo[]> {
    this.open();
    return this.schedules.list(options);
  }

  /**
   * Closes the environment: actions still running get their signal aborted (reason: shutdown)
   * and are not waited for; instances stay as they are. Safe twice. Until every environment of
   * the process is closed, the SDK's Postgres connection refuses (core/hosts.ts).
   */
  async close(): Promise<void> {
    if (this.engine.closed) return;
    this.engine.close();
    this.release();
  }
}
