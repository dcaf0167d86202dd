/**
 * The test environment's store and executor in one: instances in memory, each driven through its
 * Machine the way a supervisor's shard drives it (interpreter/drive.ts), with what Postgres does
 * for the shard done here in memory: mailboxes (waymark.send_event), effects (waymark.apply_effects:
 * sends, child starts, publications), a child's end reaching its waiting parent, a parent's end
 * cancelling the children it waits for (the triggers of migrations/0005), and cancellation.
 *
 * Nothing here reads a clock: `now` is the environment's virtual time, moved only by the
 * environment (testing/environment.ts). Workflow code runs synchronously when an instance is
 * stepped; actions run in real time (testing/actions.ts) and their outcomes step it again.
 */
import { decode, encode, encodeFailure, type Encoded } from "../core/codec.js";
import { WorkflowCancelledError } from "../core/errors.js";
import type { WorkflowIR } from "../core/ir.js";
import { machineAdvance, machineRest, snapshotStored, type Finished } from "../interpreter/drive.js";
import { type EffectResult, type LogRecord, Machine, type MachineOptions } from "../interpreter/machine.js";
import { snapshotRead } from "../interpreter/snapshot.js";
import type { Handle, InboxMessage } from "../interpreter/values.js";
import { sendKey, type ChildOutcome } from "../interpreter/world.js";
import type { AttemptOutcome } from "../sdk/action.js";
import { workflowRegistry, type WorkflowDefinition } from "../sdk/definition.js";
import type { InstanceStatus } from "../sdk/index.js";
import { ActionRunner, type Attempt } from "./actions.js";

export interface EngineLimits {
  maxValueBytes: number;
  maxStateBytes: number;
  stepLimit: number;
  evictSleepThresholdMs: number;
  random: () => number;
}

interface Message extends InboxMessage {
  key: string | null;
  consumed: boolean;
}

const FINISHED: readonly InstanceStatus[] = ["completed", "failed", "cancelled"];

export function finished(status: InstanceStatus): boolean {
  return FINISHED.includes(status);
}

/** One instance: its row (status, arguments, outcome), mailbox and published values, and its machine while it runs. */
export class TestInstance {
  status: InstanceStatus = "queued";
  machine: Machine | undefined;
  result: Encoded | null = null;
  error: Encoded | null = null;
  finishedAt: number | undefined;
  readonly mailbox: Message[] = [];
  readonly keys = new Set<string>();
  eventsSent = 0;
  readonly published = new Map<string, { value: Encoded; seq: number }>();
  readonly inflight = new Map<string, Attempt>();
  readonly children: TestInstance[] = [];
  /** Nothing but its arguments is on record: its first calls go out without a write, as in production. */
  sendUnwritten = true;

  constructor(
    readonly id: string,
    readonly def: WorkflowDefinition,
    readonly args: Encoded[],
    /** When it may start (a start's `delayMs`). */
    readonly startAt: number,
    readonly createdAt: number,
    readonly o: { idempotencyKey: string | null; parentId: string | null; detached: boolean; scheduleName: string | null },
  ) {}
}

/** The IR as stored (a JSON copy), once per workflow definition. */
const STORED_IR = new WeakMap<WorkflowDefinition, WorkflowIR>();
function irOf(def: WorkflowDefinition): WorkflowIR {
  let ir = STORED_IR.get(def);
  if (!ir) STORED_IR.set(def, (ir = JSON.parse(JSON.stringify(def.compiled.ir)) as WorkflowIR));
  return ir;
}

/** Pumps run in microtasks; every so many in a row, one waits for the event loop instead (a workflow that never waits starves nothing). */
const PUMPS_PER_TURN = 200;

export class Engine {
  now: number;
  readonly instances = new Map<string, TestInstance>();
  readonly actions: ActionRunner;
  /** What workflow code logged (console.* and log.* in run()), in order, with its instance. */
  readonly logs: Array<LogRecord & { instanceId: string; workflow: string }> = [];
  /** Instances to step now, and those that handed the event loop back (stepped on its next turn). */
  private readonly ready = new Set<TestInstance>();
  private readonly later = new Set<TestInstance>();
  private pumpQueued = false;
  private pumping = false;
  private laterQueued = false;
  /** Pumps since the last one that waited for the event loop's next turn. */
  private pumpsThisTurn = 0;
  private idleWaiters: Array<() => void> = [];
  closed = false;

  constructor(
    now: number,
    private readonly limits: EngineLimits,
  ) {
    this.now = now;
    this.actions = new ActionRunner({
      maxValueBytes: limits.maxValueBytes,
      now: () => this.now,
      settled: (owner, a, outcome) => this.settled(owner as TestInstance, a, outcome),
    });
  }

  /** Queues an instance (a start, a child, a schedule's fire) and steps it at once if it may start. */
  create(
    def: WorkflowDefinition,
    args: Encoded[],
    o: { id: string; idempotencyKey?: string | null; delayMs?: number; parent?: TestInstance; detached?: boolean; scheduleName?: string },
  ): TestInstance {
    const inst = new TestInstance(o.id, def, args, this.now + (o.delayMs ?? 0), this.now, {
      idempotencyKey: o.idempotencyKey ?? null,
      parentId: o.parent?.id ?? null,
      detached: o.detached ?? false,
      scheduleName: o.scheduleName ?? null,
    });
    this.instances.set(inst.id, inst);
    o.parent?.children.push(inst);
    this.wake(inst);
    return inst;
  }

  /** The instance of a workflow started with an idempotency key. */
  byKey(workflowName: string, key: string): TestInstance | undefined {
    for (const inst of this.instances.values()) if (inst.def.name === workflowName && inst.o.idempotencyKey === key) return inst;
    return undefined;
  }

  /** Marks an instance to be stepped, and steps soon. */
  wake(inst: TestInstance): void {
    if (finished(inst.status)) return;
    this.ready.add(inst);
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpQueued || this.closed) return;
    this.pumpQueued = true;
    if (++this.pumpsThisTurn < PUMPS_PER_TURN) queueMicrotask(() => this.pump());
    else
      setImmediate(() => {
        this.pumpsThisTurn = 0;
        this.pump();
      });
  }

  /** Steps every ready instance until none is (instances that handed the event loop back go on at its next turn). */
  pump(): void {
    this.pumpQueued = false;
    if (this.closed || this.pumping) return this.notifyIdle();
    this.pumping = true;
    try {
      while (this.ready.size) {
        const batch = [...this.ready];
        this.ready.clear();
        for (const inst of batch) this.step(inst);
      }
    } finally {
      this.pumping = false;
    }
    if (this.later.size) {
      if (!this.laterQueued) {
        this.laterQueued = true;
        setImmediate(() => {
          this.laterQueued = false;
          for (const inst of this.later) this.ready.add(inst);
          this.later.clear();
          this.pump();
        });
      }
      return;
    }
    this.notifyIdle();
  }

  /** Nothing to step, nothing stepping soon, and no attempt awaited: only time or the world can move it on. */
  idle(): boolean {
    return this.closed || (!this.pumping && this.ready.size === 0 && this.later.size === 0 && !this.pumpQueued && this.actions.running === 0);
  }

  private notifyIdle(): void {
    if (!this.idle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once the environment is idle (at once if it is): every instance waits on time or on the world. */
  whenIdle(): Promise<void> {
    this.pump();
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private machineOptions(def: WorkflowDefinition): MachineOptions {
    return { source: def.compiled.source, stepLimit: this.limits.stepLimit, maxValueBytes: this.limits.maxValueBytes };
  }

  /** Advances an instance as far as it goes without waiting (supervisor/shard.ts `step`, in memory). */
  private step(inst: TestInstance): void {
    if (finished(inst.status)) return;
    if (!inst.machine) {
      if (this.now < inst.startAt) return;
      try {
        inst.machine = Machine.start(irOf(inst.def), decode(inst.args) as unknown[], this.now, this.machineOptions(inst.def));
      } catch (e) {
        return this.finish(inst, { status: "failed", error: encodeFailure(e) });
      }
      inst.status = "running";
    }
    const m = inst.machine;
    this.deliver(inst);
    const end = machineAdvance(m, this.now, { workflowName: inst.def.name, maxValueBytes: this.limits.maxValueBytes });
    for (const r of m.takeLogs()) this.logs.push({ ...r, instanceId: inst.id, workflow: inst.def.name });
    if (end) return this.finish(inst, end.exit);
    // Handed the event loop back mid-run: it goes on at the loop's next turn.
    const yielded = m.yielded();
    if (yielded) this.later.add(inst);
    const dispatches = m.takeDispatches();
    const effects = m.takeEffects();
    const consumed = m.takeConsumed();
    if (consumed.length) {
      const taken = new Set(consumed);
      for (const msg of inst.mailbox) if (taken.has(msg.position)) msg.consumed = true;
    }
    // Durability first: the state that made new calls (but an instance's first ones), effects or
    // takes is written before they go out, so it must be storable.
    if (effects.length || consumed.length) inst.sendUnwritten = false;
    if (effects.length || consumed.length || (dispatches.length && !inst.sendUnwritten)) {
      const stored = snapshotStored(m, this.limits.maxStateBytes);
      if ("error" in stored) return this.finish(inst, { status: "failed", error: stored.error });
    }
    for (const h of dispatches) this.actions.start(inst, h);
    for (const h of effects) m.effectDone(h.effect!.seq, this.applyEffect(inst, h));
    // An effect's outcome (or a message) made fibers runnable: step again.
    if (m.runnable.length && !yielded) this.ready.add(inst);
    if (m.busy() || inst.inflight.size) {
      inst.status = "running";
      return;
    }
    const rest = machineRest(m, this.now, this.limits.evictSleepThresholdMs);
    if (rest.kind === "stuck") return this.finish(inst, { status: "failed", error: rest.error });
    inst.status = "sleeping";
    if (rest.kind === "timer") return;
    // Out of memory, as a supervisor writes it: it goes on from its written state.
    const stored = snapshotStored(m, this.limits.maxStateBytes);
    if ("error" in stored) return this.finish(inst, { status: "failed", error: stored.error });
    inst.sendUnwritten = false;
    inst.machine = snapshotRead(irOf(inst.def), stored.pieces.join(""), this.machineOptions(inst.def));
  }

  /** Hands the machine the messages it has not read (a restored one reads every unconsumed one again). */
  private deliver(inst: TestInstance): void {
    const m = inst.machine!;
    if (inst.eventsSent <= m.seenPos) return;
    const fresh: InboxMessage[] = [];
    for (const msg of inst.mailbox) {
      if (!msg.consumed && msg.position > m.seenPos) fresh.push({ position: msg.position, name: msg.name, payload: msg.payload, childId: msg.childId });
    }
    m.deliver(fresh, inst.eventsSent);
  }

  /** An attempt's outcome: to the machine, which retries or settles the call (core/policy.ts), then steps on. */
  private settled(inst: TestInstance, a: Attempt, outcome: AttemptOutcome): void {
    const m = inst.machine;
    if (!m || finished(inst.status)) return;
    inst.sendUnwritten = false;
    if (outcome.ok) m.actionSucceeded(a.seq, a.attempt, decode(outcome.value));
    else m.actionFailed(a.seq, a.attempt, outcome.error, this.now, this.limits.random);
    this.wake(inst);
  }

  /** An effect of a step, applied as waymark.apply_effects applies it. */
  private applyEffect(inst: TestInstance, h: Handle): EffectResult {
    const e = h.effect!;
    if (e.kind === "publish") {
      const current = inst.published.get(e.key);
      if (!current || current.seq <= e.seq) inst.published.set(e.key, { value: e.value, seq: e.seq });
      return { r: "ok" };
    }
    if (e.kind === "send") return { r: this.send(e.to, e.name, e.payload, sendKey(inst.id, e), null) };
    // A child runs on the latest registered version of its workflow: here, this process's.
    const def = workflowRegistry().get(e.workflow);
    if (!def) return { r: "no_version" };
    const existing = this.instances.get(e.childId) ?? (e.key !== null ? this.byKey(e.workflow, e.key) : undefined);
    if (existing) return { r: "ok", id: existing.id };
    this.create(def, e.args, { id: e.childId, idempotencyKey: e.key, parent: inst, detached: e.detached });
    return { r: "ok", id: e.childId };
  }

  /** Appends a message to an instance's mailbox and wakes it (waymark.send_event). */
  send(to: string, name: string, payload: Encoded, key: string | null, childId: string | null): "sent" | "duplicate" | "not_found" | "finished" {
    const target = this.instances.get(to);
    if (!target) return "not_found";
    if (key !== null && target.keys.has(key)) return "duplicate";
    if (finished(target.status)) return "finished";
    if (key !== null) target.keys.add(key);
    target.mailbox.push({ position: ++target.eventsSent, name, payload, childId, key, consumed: false });
    this.wake(target);
    return "sent";
  }

  /** Ends an instance; a child it waited for reports to its parent, and the children it waited for are cancelled. */
  private finish(inst: TestInstance, exit: Finished | { status: "cancelled"; error: Encoded }): void {
    inst.status = exit.status;
    if ("result" in exit) inst.result = exit.result;
    else inst.error = exit.error;
    inst.finishedAt = this.now;
    inst.machine = undefined;
    this.ready.delete(inst);
    this.later.delete(inst);
    this.actions.abandon(inst);
    const parent = inst.o.parentId === null ? undefined : this.instances.get(inst.o.parentId);
    if (parent && !inst.o.detached) {
      const outcome: ChildOutcome = { status: exit.status, workflow: inst.def.name, result: inst.result, error: inst.error };
      this.send(parent.id, "child", outcome as unknown as Encoded, `child:${inst.id}`, inst.id);
    }
    for (const child of inst.children) {
      if (child.o.detached || finished(child.status)) continue;
      // As migrations/0005's parent_finished writes it.
      this.cancel(child, {
        $w: "err",
        name: "WorkflowCancelledError",
        message: `workflow ${child.def.name} (instance ${child.id}) was cancelled: its parent workflow ${inst.def.name} (instance ${inst.id}) ended ${exit.status}`,
        fields: { code: "WAYMARK_WORKFLOW_CANCELLED", instanceId: child.id, workflowName: child.def.name },
      });
    }
    this.notifyIdle();
  }

  /**
   * Cancels an instance: its in-flight attempts' signals abort, and it ends `cancelled` (so do the
   * children it waits for). Returns the status it had; a finished one is left as it is.
   */
  cancel(inst: TestInstance, error?: Encoded): InstanceStatus {
    const before = inst.status;
    if (finished(before)) return before;
    this.actions.cancel(inst);
    this.finish(inst, { status: "cancelled", error: error ?? encode(new WorkflowCancelledError({ instanceId: inst.id, workflowName: inst.def.name })) });
    return before;
  }

  /** The earliest virtual time something is due: a sleep, a backoff, an event's deadline, or a delayed start. */
  nextWakeAt(): number | undefined {
    let min: number | undefined;
    for (const inst of this.instances.values()) {
      if (finished(inst.status)) continue;
      const t = inst.machine ? inst.machine.nextWakeAt() : inst.startAt;
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  /** Wakes every instance due at `now`. */
  wakeDue(): void {
    for (const inst of this.instances.values()) {
      if (finished(inst.status)) continue;
      const t = inst.machine ? inst.machine.nextWakeAt() : inst.startAt;
      if (t !== undefined && t <= this.now) this.wake(inst);
    }
  }

  close(): void {
    this.actions.close(this.instances.values());
    this.closed = true;
    this.ready.clear();
    this.later.clear();
    this.notifyIdle();
  }
}
