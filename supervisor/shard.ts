import { ChunkMemory, isManifest, stateAssemble } from "../store/state.js";
import type pg from "pg";
import type { Task } from "../child/protocol.js";
import type { WaymarkConfig } from "../config/env.js";
import { IR_FORMAT } from "../core/ir.js";
import { Machine, type MachineOptions } from "../interpreter/machine.js";
import { snapshotRead } from "../interpreter/snapshot.js";
import { machineAdvance, machineRest } from "../interpreter/drive.js";
import { sendKey } from "../interpreter/world.js";
import type { Handle } from "../interpreter/values.js";
import type { Logger } from "../log/logger.js";
import { decode, decodeParsed, encodeFailure, type Encoded, type ErrorData } from "../core/codec.js";
import { databaseError } from "../store/db.js";
import { attemptOutcomes, attemptProgressWrite, type AttemptWrite } from "../store/attempts.js";
import type { ClaimedInstance } from "../store/leases.js";
import type { SupervisorEvents } from "../core/events.js";
import { attemptCancelled, attemptTimedOut } from "../core/policy.js";
import { attemptToken, type Exit, LiveInstance, type Inflight, tokenInstance } from "./instance.js";
import { Persister } from "./persister.js";
import { Outbox } from "./outbox.js";
import type { Limiter } from "./limiter.js";
import type { Metrics } from "./metrics.js";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { contextOf, traceparentOf, tracer } from "../core/trace.js";
import { eventsFetch, type EffectOutcome, type EffectWrite } from "../store/events.js";
import type { ChildPool, PoolResult } from "./pool.js";
import type { LoadedVersion, VersionCache } from "./versions.js";

export interface ShardOptions {
  index: number;
  db: pg.Pool;
  owner: string;
  config: WaymarkConfig;
  pool: ChildPool;
  versions: VersionCache;
  log: Logger;
  /** Where workflows' own log records go (`console.log` in `run()`). @default log.scope("workflow") */
  workflowLog?: Logger;
  events: SupervisorEvents;
  /** Flow control: calls of actions with limits wait there for their slot. */
  limiter?: Limiter;
  metrics?: Metrics;
}

function timeoutError(message: string): ErrorData {
  return { name: "ActionTimeout", message };
}

const encodedError = (e: unknown): Encoded => encodeFailure(e);

/** How often a shard writes the progress its running attempts reported (one statement for all). */
const PROGRESS_WRITE_MS = 500;

type Outcome = { ok: true; value: Encoded } | { ok: false; error: ErrorData };

/**
 * An executor shard: the instances it holds advance independently of other shards', each
 * through its machine. A step runs the machine until every fiber waits. New action calls are
 * dispatched only from durably recorded inputs: after a write of the machine's snapshot, or at
 * once for an instance's first calls (computed from its stored arguments alone). Results are
 * written as attempt rows, in batches; a resumed instance applies the ones its snapshot lacks.
 */
export class Shard {
  readonly live = new Map<string, LiveInstance>();
  private readonly progressOut = new Map<string, Parameters<typeof attemptProgressWrite>[1][number]>();
  private progressTimer: NodeJS.Timeout | undefined;
  readonly persister: Persister;
  /** Effects of workflow steps beyond their rows (sends, child starts, publications). */
  readonly outbox: Outbox;
  /** Attempts that timed out but whose child has not settled them: killed after the grace. */
  private readonly abandoned = new Map<string, number>();
  completed = 0;
  failed = 0;
  actions = 0;
  private readonly workflowLog: Logger;

  constructor(private readonly options: ShardOptions) {
    this.workflowLog = options.workflowLog ?? options.log.scope("workflow");
    this.persister = new Persister({
      db: options.db,
      owner: options.owner,
      batchSize: options.config.instanceDoneBatchSize,
      intervalMs: options.config.persistIntervalMs,
      log: options.log.scope("persist"),
      onLost: (lost) => {
        for (const { id, epoch } of lost) this.drop(id, "its lease was taken over (the write was refused)", epoch);
      },
    });
    this.outbox = new Outbox({ db: options.db, log: options.log.scope("effects"), done: (outcomes) => this.onEffects(outcomes) });
  }

  private newLive(c: ClaimedInstance, machine: Machine): LiveInstance {
    const live = new LiveInstance(
      c.id,
      c.workflowName,
      c.versionId,
      c.epoch,
      machine,
      (l, s, effects, eventsSent) => this.afterWrite(l, s, effects, eventsSent),
      c.state === null,
      this.options.config.maxStateBytes,
    );
    live.suspect = c.isolated;
    live.unread = c.eventsSent > 0;
    if (c.traceContext) {
      // Started under a span: this stretch of the instance (until it finishes or leaves this
      // supervisor) is a span of its own, parent of its action attempts' spans.
      const parent = contextOf(c.traceContext);
      if (parent) {
        live.span = tracer().startSpan(
          `waymark.instance ${c.workflowName}`,
          { attributes: { "waymark.workflow": c.workflowName, "waymark.instance_id": c.id, "waymark.resumed": c.state !== null || c.epoch > 1 } },
          parent,
        );
        live.trace = traceparentOf(trace.setSpan(parent, live.span)) ?? c.traceContext;
      }
    }
    return live;
  }

  /** Whether this shard holds an isolated instance that has not yet written progress. */
  holdsSuspect(): boolean {
    for (const live of this.live.values()) if (live.suspect) return true;
    return false;
  }

  /**
   * Takes a claimed instance into memory and runs it. A first claim of a version already loaded
   * (the usual case) is taken in at once; the others once what they need is read (the version,
   * a state in parts, recorded attempts, messages): then the promise says when.
   */
  adopt(c: ClaimedInstance): Promise<void> | undefined {
    // Claimed again while an old copy is still held (its lease expired under a stalled process,
    // and this supervisor took it back): the old copy goes first, its attempts forgotten.
    const old = this.live.get(c.id);
    if (old) this.retire(old, `claimed again (epoch ${c.epoch}) while an older claim (epoch ${old.epoch}) was still held`);
    const version = this.options.versions.loaded(c.versionId);
    if (version && c.state === null && c.epoch === 1 && c.eventsSent === 0) {
      const live = this.take(c, version, null, undefined, Date.now());
      if (live) this.step(live);
      return undefined;
    }
    return this.adoptReading(c);
  }

  private async adoptReading(c: ClaimedInstance): Promise<void> {
    const now = Date.now();
    let version: LoadedVersion;
    try {
      version = await this.options.versions.get(c.versionId);
    } catch (e) {
      if (!databaseError(e)) throw e;
      // The database, not the instance: it goes back to the queue as it was.
      this.options.log.warn("reading a claimed instance's workflow version failed; the instance goes back to the queue", {
        instance: c.id,
        error: (e as Error).message,
      });
      return this.leaveAtOnce(c, { kind: "released", keepState: true });
    }
    // A large state is stored in parts: read them (the database's trouble sends the instance back
    // to the queue, as above), and remember them, so the next write sends only new ones.
    let state = c.state;
    let chunks: ChunkMemory | undefined;
    if (isManifest(state)) {
      let whole: { text: string; chunks: Map<number, string> } | undefined;
      try {
        whole = (await stateAssemble(this.options.db, new Map([[c.id, state]]))).get(c.id);
      } catch (e) {
        if (!databaseError(e)) throw e;
        this.options.log.warn("reading a claimed instance's state failed; the instance goes back to the queue", {
          instance: c.id,
          error: (e as Error).message,
        });
        return this.leaveAtOnce(c, { kind: "released", keepState: true });
      }
      state = whole!.text;
      chunks = ChunkMemory.from(whole!.chunks);
    }
    const live = this.take(c, version, state, chunks, now);
    if (!live) return;
    // A claim that is not the first: results may have been recorded after the last snapshot (or,
    // with no snapshot, for the first calls). Apply them instead of running those calls again.
    if (c.state !== null || c.epoch > 1 || live.unread) {
      try {
        if (c.state !== null || c.epoch > 1) await this.resume(live, c.state !== null, now);
        // Messages sent before it ran (or while it slept): read before it runs, so a wait finds
        // what is already in its mailbox.
        if (live.unread) await this.readMailbox(live);
      } catch (e) {
        this.options.log.warn("reading recorded attempts or messages failed; the instance goes back to the queue", {
          instance: c.id,
          error: (e as Error).message,
        });
        live.exit = { kind: "released" };
        this.persister.mark(live, true);
        return;
      }
    }
    this.step(live);
  }

  /**
   * The instance's machine, started or restored, held by this shard; undefined if it is not to
   * run (its state could not be read: it fails; a cancellation was asked for: it is cancelled).
   */
  private take(c: ClaimedInstance, version: LoadedVersion, state: string | null, chunks: ChunkMemory | undefined, now: number): LiveInstance | undefined {
    let machine: Machine;
    try {
      const { ir, source } = version;
      const options: MachineOptions = { source, stepLimit: this.options.config.workflowStepLimit, maxValueBytes: this.options.config.maxValueBytes };
      machine = state ? snapshotRead(ir, state, options) : Machine.start(ir, decodeParsed(c.args) as unknown[], now, options);
    } catch (e) {
      this.options.log.error("cannot resume instance", { instance: c.id, error: e });
      // Its chunks, if any, are deleted by the write that fails it.
      this.leaveAtOnce(c, { kind: "finished", status: "failed", error: encodedError(e) }, chunks);
      return undefined;
    }
    const live = this.newLive(c, machine);
    live.chunks = chunks;
    this.live.set(c.id, live);
    if (c.cancelRequested) {
      this.cancel(c.id);
      return undefined;
    }
    const resumed = c.state !== null || c.epoch > 1;
    this.options.events.emit("instance.started", { id: c.id, workflow: c.workflowName, resumed });
    if (!resumed) this.options.metrics?.instancesStarted.add(1, { workflow: c.workflowName });
    return live;
  }

  /** Holds a claimed instance that does not run only for its next write, which `exit` says (back to the queue, or failed). */
  private leaveAtOnce(c: ClaimedInstance, exit: Exit, chunks?: ChunkMemory): void {
    const live = this.newLive(c, new Machine({ format: IR_FORMAT, name: c.workflowName, fns: [] }));
    live.chunks = chunks;
    live.exit = exit;
    this.live.set(c.id, live);
    this.persister.mark(live, true);
  }

  /** Reads the messages past what the machine has read and hands them over (no step). */
  private async readMailbox(live: LiveInstance): Promise<void> {
    live.unread = false;
    const m = live.machine;
    const got = (await eventsFetch(this.options.db, { ids: [live.id], after: [m.seenPos] })).get(live.id);
    if (got && !live.gone) m.deliver(got.messages, got.sent);
  }

  /**
   * A message reached the mailbox of an instance this shard may hold (NOTIFY, or the position
   * the heartbeat or a write saw): read it now if the instance waits on the world, or at its
   * next wait.
   */
  onEvent(id: string, position?: number): void {
    const live = this.live.get(id);
    if (!live || live.gone || live.exit) return;
    if (position !== undefined && position <= live.machine.seenPos) return;
    live.unread = true;
    this.fetchIfWaiting(live);
  }

  private fetchIfWaiting(live: LiveInstance): void {
    if (!live.unread || !live.machine.waitsOnWorld() || live.gone || live.exit) return;
    if (live.fetching) {
      live.fetchAgain = true;
      return;
    }
    live.fetching = true;
    this.readMailbox(live).then(
      () => {
        live.fetching = false;
        if (live.fetchAgain) {
          live.fetchAgain = false;
          live.unread = true;
        }
        this.step(live);
      },
      (e: unknown) => {
        live.fetching = false;
        live.unread = true;
        this.options.log.warn("reading an instance's messages failed; retrying", { instance: live.id, error: (e as Error).message });
        setTimeout(() => this.fetchIfWaiting(live), 1000).unref();
      },
    );
  }

  /** Outcomes of written effects: each goes to its instance's machine, which steps on. */
  private onEffects(outcomes: EffectOutcome[]): void {
    const touched = new Set<LiveInstance>();
    for (const o of outcomes) {
      const live = this.live.get(o.instanceId);
      if (!live || live.gone || live.exit) continue;
      if (live.machine.effectDone(o.seq, o)) touched.add(live);
    }
    for (const live of touched) this.step(live);
  }

  /** What the outbox writes for an effect of this instance. */
  private effectWrite(live: LiveInstance, h: Handle): EffectWrite {
    const e = h.effect!;
    switch (e.kind) {
      case "send":
        // The step's own key, unless the workflow gave one: written again, it stores nothing.
        return { instanceId: live.id, seq: e.seq, t: "send", to: e.to, name: e.name, payload: e.payload, key: sendKey(live.id, e) };
      case "publish":
        return { instanceId: live.id, seq: e.seq, t: "publish", key: e.key, value: e.value };
      case "start":
        return { instanceId: live.id, seq: e.seq, t: "start", workflow: e.workflow, childId: e.childId, args: e.args, key: e.key, detached: e.detached };
    }
  }

  private async resume(live: LiveInstance, restored: boolean, now: number): Promise<void> {
    const m = live.machine;
    let pending: Handle[];
    if (restored) pending = m.running();
    else {
      m.run(now);
      pending = m.takeDispatches();
    }
    if (!pending.length) return;
    const outcomes = await attemptOutcomes(this.options.db, {
      keys: pending.map((h) => ({ instanceId: live.id, actionSeq: h.call!.seq, attempt: h.call!.attempt })),
    });
    const bySeq = new Map(outcomes.map((o) => [o.actionSeq, o]));
    for (const h of pending) {
      const call = h.call!;
      const o = bySeq.get(call.seq);
      if (o?.status === "completed") {
        m.actionSucceeded(call.seq, call.attempt, decode(o.result));
        live.sendUnwritten = false;
      } else if (o) {
        m.actionFailed(call.seq, call.attempt, (o.error ?? { name: "Error", message: o.status }) as unknown as ErrorData, now);
        live.sendUnwritten = false;
      } else if (restored) {
        // Dispatched from the snapshot, but no outcome was recorded: its fate is unknown, so it
        // counts as timed out and is retried (by default) like any lost attempt.
        const error = timeoutError(`attempt ${call.attempt} of ${call.name} was lost: its supervisor stopped before recording a result`);
        live.attempts.push({
          instanceId: live.id,
          actionSeq: call.seq,
          attempt: call.attempt,
          nodeId: call.node,
          actionName: call.name,
          status: "timed_out",
          args: call.args,
          error: error as unknown as Encoded,
          startedAt: new Date(now),
          finishedAt: new Date(now),
        });
        m.actionFailed(call.seq, call.attempt, error, now);
        live.sendUnwritten = false;
      } else {
        this.queueSend(live, h);
      }
    }
  }

  private queueSend(live: LiveInstance, h: Handle): void {
    const call = h.call!;
    const task: Task = {
      id: attemptToken(live.id, call.seq, call.attempt),
      action: call.name,
      args: call.args,
      instanceId: live.id,
      actionId: String(call.seq),
      attempt: call.attempt,
    };
    // Rare, so added after (a spread in the literal costs every task a slower object copy).
    if (live.trace) task.trace = live.trace;
    const progress = live.lastProgress?.get(call.seq);
    if (progress !== undefined) task.progress = progress;
    live.toSend.push(task);
  }

  /** Advances an instance as far as it goes without waiting. */
  step(live: LiveInstance): void {
    if (live.gone || live.exit) return;
    const m = live.machine;
    const now = Date.now();
    const end = machineAdvance(m, now, { workflowName: live.workflowName, maxValueBytes: this.options.config.maxValueBytes });
    if (end) {
      this.takeLogs(live);
      const e = end.fault?.error;
      if (end.fault && (e as Error | undefined)?.name === "WorkflowLimitError")
        this.options.log.warn("workflow over its limit", { instance: live.id, error: (e as Error).message });
      else if (end.fault) this.options.log.error("interpreter fault", { instance: live.id, error: e });
      return this.finish(live, end.exit);
    }
    this.takeLogs(live);
    if (m.yielded()) this.continueSoon(live);
    for (const h of m.takeDispatches()) this.queueSend(live, h);
    const effects = m.takeEffects();
    if (effects.length) {
      // Effects go out only after the state that made them (a child's id, a send's key) is written.
      live.toApply.push(...effects);
      live.sendUnwritten = false;
      live.needsSnapshot = true;
      this.persister.mark(live, true);
    }
    if (m.consumed.length) {
      live.sendUnwritten = false;
      live.needsSnapshot = true;
      this.persister.mark(live, false);
    }
    if (live.toSend.length) {
      if (live.sendUnwritten) {
        // The first calls of an instance: computed from its stored arguments alone.
        this.afterWrite(live, live.toSend.splice(0));
      } else {
        live.needsSnapshot = true;
        return this.persister.mark(live, true);
      }
    }
    if (live.attempts.length) this.persister.mark(live, false);
    this.fetchIfWaiting(live);
    if (m.busy() || live.inflight.size || live.fetching) {
      live.idleSince = 0;
      return;
    }
    const threshold = this.options.config.evictSleepThresholdMs;
    const rest = machineRest(m, now, threshold);
    if (rest.kind === "world") {
      // Waiting for a message or a child: a while in memory (a child or a reply often comes
      // soon), then out of memory until a message, a child's end or the deadline wakes it.
      live.idleSince ||= now;
      const leaveAt = live.idleSince + threshold;
      if (now >= leaveAt) {
        live.exit = { kind: "sleeping", wakeAt: rest.wakeAt };
        return this.persister.mark(live, true);
      }
      if (live.wakeTimer) clearTimeout(live.wakeTimer);
      live.wakeTimer = setTimeout(() => {
        live.wakeTimer = null;
        this.step(live);
      }, leaveAt - now);
      return;
    }
    live.idleSince = 0;
    if (rest.kind === "stuck") return this.finish(live, { status: "failed", error: rest.error });
    if (rest.kind === "sleep") {
      // A long sleep or backoff: leave memory and release the lease; the claim query wakes it.
      live.exit = { kind: "sleeping", wakeAt: rest.wakeAt };
      return this.persister.mark(live, true);
    }
    if (live.wakeTimer) clearTimeout(live.wakeTimer);
    live.wakeTimer = setTimeout(
      () => {
        live.wakeTimer = null;
        this.step(live);
      },
      Math.max(0, rest.wakeAt - now),
    );
  }

  /**
   * The log records its last run made: each to the supervisor's log now, as the step runs (a step
   * run again after a crash logs again there), and to the instance's record with its next state
   * (written with it, so on file once). The write need not hurry: nothing waits on it.
   */
  private takeLogs(live: LiveInstance): void {
    const records = live.machine.takeLogs();
    if (!records.length) return;
    for (const r of records) {
      this.workflowLog.log(r.level, r.message, { workflow: live.workflowName, instanceId: live.id, step: r.node, line: r.line, seq: r.seq });
    }
    live.addLogs(records.map((r) => ({ seq: r.seq, at: r.at, level: r.level, line: r.line, nodeId: r.node, message: r.message })));
    live.needsSnapshot = true;
    this.persister.mark(live, false);
  }

  /**
   * The instance handed the event loop back mid-run: it goes on after pending I/O (results,
   * heartbeats, signals, other instances), once however often this is asked.
   */
  private continueSoon(live: LiveInstance): void {
    if (live.continuing) return;
    live.continuing = true;
    setImmediate(() => {
      live.continuing = false;
      this.step(live);
    });
  }

  private finish(live: LiveInstance, exit: { status: "completed" | "failed" | "cancelled"; result?: Encoded; error?: Encoded }): void {
    live.exit = { kind: "finished", ...exit };
    if (live.wakeTimer) clearTimeout(live.wakeTimer);
    live.wakeTimer = null;
    // Dispatches that never went out stay undone; in-flight attempts of a finished instance
    // (a Promise.all that rejected early) are abandoned: their results find no instance.
    live.toSend.length = 0;
    this.persister.mark(live, true);
  }

  /** After a durable write (or for an instance's first calls): send the dispatches and effects, or let a departed instance go. */
  private afterWrite(live: LiveInstance, sent: Task[], effects: Handle[] = [], eventsSent?: number): void {
    if (live.gone) return;
    if (!live.exit) {
      this.outbox.submit(effects.map((h) => this.effectWrite(live, h)));
      if (eventsSent !== undefined && eventsSent > live.machine.seenPos) {
        live.unread = true;
        this.fetchIfWaiting(live);
      }
    }
    if (live.exit) {
      this.remove(live);
      const e = live.exit;
      if (e.kind === "finished") {
        if (e.status === "completed") this.completed++;
        else this.failed++;
        this.options.events.emit("instance.finished", { id: live.id, workflow: live.workflowName, status: e.status });
        this.options.metrics?.instancesFinished.add(1, { workflow: live.workflowName, status: e.status });
      } else this.options.events.emit("instance.left", { id: live.id, workflow: live.workflowName, wakeAt: e.kind === "sleeping" ? e.wakeAt : undefined });
      return;
    }
    const now = Date.now();
    if (live.resultAt !== undefined && sent.length) {
      this.options.metrics?.stepLatency.record((now - live.resultAt) / 1000, { workflow: live.workflowName });
      live.resultAt = undefined;
    }
    for (const task of sent) {
      const h = live.machine.actions.get(Number(task.actionId));
      const timeoutMs = h?.call?.opts.timeoutMs ?? 300_000;
      live.inflight.set(task.id, {
        seq: Number(task.actionId),
        attempt: task.attempt,
        name: task.action,
        node: h?.call?.node ?? "",
        args: task.args,
        dispatchedAt: now,
        timeoutMs,
      });
      this.dispatch(task, h?.call?.opts.limitKey);
    }
  }

  /** To the child pool, or, for an action with limits, to wait for its slot first. */
  private dispatch(task: Task, key: string | undefined): void {
    const limiter = this.options.limiter;
    if (limiter?.limited(task.action)) limiter.submit(task, key);
    else this.options.pool.submit(task);
  }

  /** An attempt's token is done with: its flow-control slot (or its wait for one) goes. */
  private released(token: string): void {
    this.options.limiter?.release(token);
  }

  private remove(live: LiveInstance): void {
    live.gone = true;
    if (live.span) {
      const exit = live.exit;
      const status = exit?.kind === "finished" ? exit.status : "released";
      live.span.setAttribute("waymark.status", status);
      if (status === "failed") live.span.setStatus({ code: SpanStatusCode.ERROR });
      live.span.end();
    }
    if (live.wakeTimer) clearTimeout(live.wakeTimer);
    live.wakeTimer = null;
    this.live.delete(live.id);
    for (const token of live.inflight.keys()) {
      this.options.pool.forget(token);
      this.released(token);
    }
  }

  private attemptRow(
    live: LiveInstance,
    entry: Inflight,
    status: AttemptWrite["status"],
    fields: { result?: Encoded; error?: ErrorData; childPid?: number; startedAt?: number; finishedAt: Date },
  ): AttemptWrite {
    const startedAt = new Date(fields.startedAt ?? entry.dispatchedAt);
    const row: AttemptWrite = {
      instanceId: live.id,
      actionSeq: entry.seq,
      attempt: entry.attempt,
      nodeId: entry.node,
      actionName: entry.name,
      status,
      args: entry.args,
      startedAt,
      finishedAt: fields.finishedAt,
      childPid: fields.childPid ?? null,
    };
    if (fields.result !== undefined) row.result = fields.result;
    if (fields.error !== undefined) row.error = fields.error as unknown as Encoded;
    if (entry.progress !== undefined) row.progress = entry.progress;
    return row;
  }

  /** Records an attempt's outcome and feeds it to the machine. */
  private settle(
    live: LiveInstance,
    entry: Inflight,
    outcome: Outcome,
    status: AttemptWrite["status"],
    child: { pid: number | undefined; startedAt: number | undefined },
    now: number,
  ): void {
    live.sendUnwritten = false;
    const finishedAt = new Date(now);
    const { pid: childPid, startedAt } = child;
    const metrics = this.options.metrics;
    if (metrics?.enabled) {
      metrics.attempts.add(1, { action: entry.name, outcome: outcome.ok ? "completed" : status });
      if (startedAt !== undefined) {
        metrics.actionDuration.record((now - startedAt) / 1000, { action: entry.name, outcome: outcome.ok ? "completed" : status });
        metrics.queueLag.record(Math.max(0, startedAt - entry.dispatchedAt) / 1000, { action: entry.name });
      }
    }
    if (outcome.ok) {
      live.attempts.push(this.attemptRow(live, entry, "completed", { result: outcome.value, childPid, startedAt, finishedAt }));
      live.machine.actionSucceeded(entry.seq, entry.attempt, decode(outcome.value));
    } else {
      live.attempts.push(this.attemptRow(live, entry, status, { error: outcome.error, childPid, startedAt, finishedAt }));
      live.machine.actionFailed(entry.seq, entry.attempt, outcome.error, now);
      this.options.events.emit("action.failed", { id: live.id, action: entry.name, attempt: entry.attempt, error: outcome.error });
    }
  }

  /** A running attempt's latest progress: kept with it (written every PROGRESS_WRITE_MS) and for its retries. */
  onProgress(id: string, progress: Encoded): void {
    const live = this.live.get(tokenInstance(id));
    const entry = live?.inflight.get(id);
    if (!live || !entry) return;
    entry.progress = progress;
    (live.lastProgress ??= new Map()).set(entry.seq, progress);
    this.progressOut.set(id, {
      instanceId: live.id,
      actionSeq: entry.seq,
      attempt: entry.attempt,
      nodeId: entry.node,
      actionName: entry.name,
      args: entry.args as unknown as Encoded,
      startedAt: this.options.pool.startedAt(id) ?? entry.dispatchedAt,
      progress,
    });
    this.progressTimer ??= setTimeout(() => void this.writeProgress(), PROGRESS_WRITE_MS);
  }

  /** At shutdown: progress not yet written is dropped (the attempts' ends carry their last). */
  stopProgress(): void {
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    this.progressOut.clear();
  }

  private async writeProgress(): Promise<void> {
    this.progressTimer = undefined;
    const rows = [...this.progressOut.values()];
    this.progressOut.clear();
    try {
      await attemptProgressWrite(this.options.db, rows);
    } catch (e) {
      // Progress is for people watching: the next report (or the attempt's end) writes it again.
      this.options.log.warn("could not write action progress", { error: (e as Error).message });
    }
  }

  /** A result from a child. */
  onResult(r: PoolResult): void {
    this.released(r.id);
    if (this.abandoned.delete(r.id)) return; // a late result of a timed-out attempt
    const live = this.live.get(r.id.slice(0, r.id.indexOf("/")));
    const entry = live?.inflight.get(r.id);
    if (!live || !entry || live.gone) return;
    live.inflight.delete(r.id);
    this.actions++;
    if (this.options.metrics?.enabled) live.resultAt ??= Date.now();
    const outcome: Outcome = r.ok ? { ok: true, value: r.value } : { ok: false, error: r.error };
    this.settle(live, entry, outcome, !r.ok && r.error.name === "ActionTimeout" ? "timed_out" : "failed", { pid: r.pid, startedAt: r.startedAt }, Date.now());
    this.step(live);
  }

  /**
   * Attempts that will report no result (their child died, or the shutdown aborted them past its
   * grace period): each fails at once as ActionTimeout, which the retry policy retries.
   */
  onLost(tokens: string[], pid: number, reason: string): void {
    const touched = new Set<LiveInstance>();
    for (const token of tokens) {
      this.released(token);
      if (this.abandoned.delete(token)) continue;
      const live = this.live.get(token.slice(0, token.indexOf("/")));
      const entry = live?.inflight.get(token);
      if (!live || !entry) continue;
      live.inflight.delete(token);
      this.settle(
        live,
        entry,
        { ok: false, error: timeoutError(`attempt ${entry.attempt} of ${entry.name} (pid ${pid}) was lost: ${reason}`) },
        "timed_out",
        { pid, startedAt: this.options.pool.startedAt(token) },
        Date.now(),
      );
      touched.add(live);
    }
    for (const live of touched) this.step(live);
  }

  /** Times out attempts past their deadline (abort, then kill after the grace period). */
  sweep(now: number): void {
    for (const [token, killAt] of this.abandoned) {
      if (now >= killAt) {
        this.abandoned.delete(token);
        this.options.pool.kill(token);
        this.released(token);
      }
    }
    for (const live of this.live.values()) {
      let touched = false;
      for (const [token, entry] of live.inflight) {
        // The clock starts when the child starts the attempt, not while it waits in its queue.
        const startedAt = this.options.pool.startedAt(token);
        if (startedAt === undefined || now < startedAt + entry.timeoutMs) continue;
        live.inflight.delete(token);
        const pid = this.options.pool.pidOf(token);
        this.options.pool.abort([token], "timeout");
        this.abandoned.set(token, now + this.options.config.abortGraceMs);
        const error = attemptTimedOut({ action: entry.name, timeoutMs: entry.timeoutMs, attempt: entry.attempt });
        this.settle(live, entry, { ok: false, error }, "timed_out", { pid, startedAt }, now);
        touched = true;
      }
      if (touched) this.step(live);
    }
  }

  /**
   * A cancellation request for an instance this shard holds: its in-flight actions' signals
   * abort, nothing new is dispatched, and it ends `cancelled`.
   */
  cancel(id: string): void {
    const live = this.live.get(id);
    if (!live || live.gone || live.exit) return;
    const tokens = [...live.inflight.keys()];
    const now = Date.now();
    const waiting: string[] = [];
    for (const [token, entry] of live.inflight) {
      const startedAt = this.options.pool.startedAt(token);
      const childPid = this.options.pool.pidOf(token);
      live.attempts.push(
        this.attemptRow(live, entry, "cancelled", {
          error: attemptCancelled({ action: entry.name, started: startedAt !== undefined }),
          childPid,
          startedAt,
          finishedAt: new Date(now),
        }),
      );
      // A running one that ignores the abort gets its child killed after the grace period; one
      // still waiting in its child's queue settles at once when its turn comes (and is ignored).
      if (startedAt !== undefined) this.abandoned.set(token, now + this.options.config.abortGraceMs);
      else waiting.push(token);
    }
    if (tokens.length) this.options.pool.abort(tokens, "cancelled");
    for (const token of waiting) {
      this.options.pool.forget(token);
      this.released(token);
    }
    live.inflight.clear();
    this.options.log.info("instance cancelled", { instance: id, abortedActions: tokens.length });
    this.finish(live, { status: "cancelled", error: live.cancelError() });
  }

  /**
   * Forgets an instance whose lease this supervisor lost (the claim of that epoch, if given).
   * `unlessLeaving`: the heartbeat's view, which cannot tell a lost lease from an exit written
   * just before it ran; an instance on its way out is left to its write's own lease guard.
   */
  drop(id: string, why: string, epoch?: number, o: { unlessLeaving?: boolean } = {}): void {
    const live = this.live.get(id);
    if (!live || (epoch !== undefined && live.epoch !== epoch)) return;
    if (o.unlessLeaving && live.exit) return;
    this.options.log.warn("dropping instance", { instance: id, why });
    this.remove(live);
  }

  /** Retires an old copy of an instance before a new claim of it runs: nothing of it goes on. */
  private retire(old: LiveInstance, why: string): void {
    this.options.log.warn("retiring an old copy of an instance", { instance: old.id, why });
    const tokens = [...old.inflight.keys()];
    if (tokens.length) this.options.pool.abort(tokens, "cancelled");
    this.remove(old);
    this.persister.forget(old);
  }

  /**
   * Shutdown: write every instance back (queued, or sleeping until its timer) and release it.
   * Calls that never reached a worker go back to undispatched, so the next owner simply sends
   * them (rather than counting them as lost attempts).
   */
  releaseAll(unsent: Set<string>): void {
    for (const live of this.live.values()) {
      if (live.exit) continue;
      if (live.wakeTimer) clearTimeout(live.wakeTimer);
      live.wakeTimer = null;
      // Calls not sent yet go back to undispatched: those waiting for a write, and those whose
      // write is on its way now (its snapshot shows them dispatched, but the release written
      // after it will not, and the landing write sees the exit and sends nothing).
      for (const task of [...live.toSend, ...live.inWrite]) live.machine.undispatch(Number(task.actionId), task.attempt);
      for (const [token, entry] of live.inflight) {
        if (!unsent.has(token)) continue;
        live.inflight.delete(token);
        live.machine.undispatch(entry.seq, entry.attempt);
      }
      const wake = live.machine.nextWakeAt();
      const idle = !live.machine.busy() && live.inflight.size === 0;
      live.exit = idle && (wake !== undefined || live.machine.waitsOnWorld()) ? { kind: "sleeping", wakeAt: wake } : { kind: "released" };
      live.toSend.length = 0;
      this.persister.mark(live, true);
    }
  }

  inflight(): number {
    let n = 0;
    for (const l of this.live.values()) n += l.inflight.size;
    return n;
  }
}
