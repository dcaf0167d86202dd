import type pg from "pg";
import type { Task } from "../child/protocol.js";
import { IR_FORMAT } from "../compiler/ir.js";
import type { WaymarkConfig } from "../config/env.js";
import { Machine } from "../interpreter/machine.js";
import { snapshotRead } from "../interpreter/snapshot.js";
import type { Logger } from "../log/logger.js";
import { decode, encode, errorToData, type Encoded, type ErrorData } from "../sdk/codec.js";
import type { ClaimedInstance } from "../store/engine.js";
import type { SupervisorEvents } from "./events.js";
import { attemptToken, LiveInstance } from "./instance.js";
import { Persister } from "./persister.js";
import type { ChildPool, PoolResult } from "./pool.js";
import type { VersionCache } from "./versions.js";

export interface ShardOptions {
  index: number;
  db: pg.Pool;
  owner: string;
  config: WaymarkConfig;
  pool: ChildPool;
  versions: VersionCache;
  log: Logger;
  events: SupervisorEvents;
}

function timeoutError(message: string): ErrorData {
  return { name: "ActionTimeout", message };
}

function encodedError(e: unknown): Encoded {
  try {
    return encode(e instanceof Error ? e : new Error(`non-error thrown: ${String(e)}`), "the workflow's error");
  } catch {
    return encode(new Error(String(e)));
  }
}

/**
 * An executor shard: the instances it holds advance independently of other shards', each
 * through its machine. A step runs the machine until every fiber waits; new action calls wait
 * for the next durable write of the instance (an action is dispatched only from durably recorded
 * inputs), results come back from the child pool, and the state is written in batches.
 */
export class Shard {
  readonly live = new Map<string, LiveInstance>();
  readonly persister: Persister;
  /** Attempts that timed out but whose child has not settled them: killed after the grace. */
  private readonly abandoned = new Map<string, number>();
  completed = 0;
  failed = 0;
  actions = 0;

  constructor(private readonly o: ShardOptions) {
    this.persister = new Persister({
      db: o.db,
      owner: o.owner,
      batchSize: o.config.instanceDoneBatchSize,
      intervalMs: o.config.persistIntervalMs,
      log: o.log.scope("persist"),
      onLost: (ids) => {
        for (const id of ids) this.drop(id, "its lease was taken over (the write was refused)");
      },
    });
  }

  /** Takes a claimed instance into memory and runs it. */
  async adopt(c: ClaimedInstance): Promise<void> {
    const now = Date.now();
    let machine: Machine;
    const lostAttempts: Array<{ seq: number; attempt: number; name: string; node: string }> = [];
    try {
      const ir = await this.o.versions.get(c.versionId);
      if (c.state) {
        machine = snapshotRead(ir, c.state);
        for (const h of machine.running()) lostAttempts.push({ seq: h.call!.seq, attempt: h.call!.attempt, name: h.call!.name, node: h.call!.node });
      } else {
        machine = Machine.start(ir, decode(c.args) as unknown[], now);
      }
    } catch (e) {
      this.o.log.error("cannot resume instance", { instance: c.id, error: e });
      const live = new LiveInstance(c.id, c.workflowName, c.versionId, c.epoch, new Machine({ format: IR_FORMAT, name: c.workflowName, fns: [] }), (l, s) => this.afterWrite(l, s));
      live.exit = { kind: "finished", status: "failed", error: encodedError(e) };
      this.live.set(c.id, live);
      this.persister.mark(live, true);
      return;
    }
    const live = new LiveInstance(c.id, c.workflowName, c.versionId, c.epoch, machine, (l, s) => this.afterWrite(l, s));
    live.cancelRequested = c.cancelRequested;
    this.live.set(c.id, live);
    // Attempts in flight when the last owner stopped: their fate is unknown, so they count as
    // timed out and are retried (by default) from the durably recorded state.
    for (const a of lostAttempts) {
      const error = timeoutError(`attempt ${a.attempt} of ${a.name} was lost: its supervisor stopped before recording a result`);
      live.attempts.push({ instanceId: c.id, actionSeq: a.seq, attempt: a.attempt, nodeId: a.node, actionName: a.name, status: "timed_out", error: error as unknown as Encoded, startedAt: new Date(now), finishedAt: new Date(now) });
      machine.actionFailed(a.seq, a.attempt, error, now);
    }
    this.o.events.emit("instance.started", { id: c.id, workflow: c.workflowName, resumed: c.state !== null });
    this.step(live);
  }

  /** Advances an instance as far as it goes without waiting. */
  step(live: LiveInstance): void {
    if (live.gone || live.exit) return;
    const m = live.machine;
    const now = Date.now();
    try {
      m.run(now);
    } catch (e) {
      this.o.log.error("interpreter fault", { instance: live.id, error: e });
      return this.finish(live, { status: "failed", error: encodedError(e) });
    }
    if (m.outcome) {
      if (m.outcome.status === "completed") {
        let result: Encoded;
        try {
          result = encode(m.outcome.value, `the result of workflow ${live.workflowName}`);
        } catch (e) {
          return this.finish(live, { status: "failed", error: encodedError(e) });
        }
        return this.finish(live, { status: "completed", result });
      }
      return this.finish(live, { status: "failed", error: encodedError(m.outcome.error) });
    }
    const dispatches = m.takeDispatches();
    for (const h of dispatches) {
      const call = h.call!;
      const token = attemptToken(live.id, call.seq, call.attempt);
      live.attempts.push({ instanceId: live.id, actionSeq: call.seq, attempt: call.attempt, nodeId: call.node, actionName: call.name, status: "running", args: call.args, startedAt: new Date(now) });
      live.toSend.push({ id: token, action: call.name, args: call.args, instanceId: live.id, actionId: String(call.seq), attempt: call.attempt });
    }
    if (dispatches.length) return this.persister.mark(live, true);
    if (live.attempts.length) this.persister.mark(live, false);
    if (m.busy() || live.inflight.size) return;
    const wake = m.nextWakeAt();
    if (wake === undefined) {
      return this.finish(live, { status: "failed", error: encodedError(new Error("the workflow waits on nothing that can finish (an interpreter bug): please report it")) });
    }
    if (wake - now >= this.o.config.evictSleepThresholdMs) {
      // A long sleep or backoff: leave memory and release the lease; the claim query wakes it.
      live.exit = { kind: "sleeping", wakeAt: wake };
      return this.persister.mark(live, true);
    }
    if (live.wakeTimer) clearTimeout(live.wakeTimer);
    live.wakeTimer = setTimeout(() => {
      live.wakeTimer = null;
      this.step(live);
    }, Math.max(0, wake - now));
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

  /** After a durable write: send the dispatches it covered, or let a departed instance go. */
  private afterWrite(live: LiveInstance, sent: Task[]): void {
    if (live.gone) return;
    if (live.exit) {
      this.remove(live);
      const e = live.exit;
      if (e.kind === "finished") {
        if (e.status === "completed") this.completed++;
        else this.failed++;
        this.o.events.emit("instance.finished", { id: live.id, workflow: live.workflowName, status: e.status });
      }
      return;
    }
    const now = Date.now();
    for (const task of sent) {
      const h = live.machine.actions.get(Number(task.actionId));
      const timeoutMs = h?.call?.opts.timeoutMs ?? 300_000;
      live.inflight.set(task.id, { seq: Number(task.actionId), attempt: task.attempt, name: task.action, node: h?.call?.node ?? "", startedAt: new Date(now), deadline: now + timeoutMs });
      this.o.pool.submit(task);
    }
  }

  private remove(live: LiveInstance): void {
    live.gone = true;
    if (live.wakeTimer) clearTimeout(live.wakeTimer);
    live.wakeTimer = null;
    this.live.delete(live.id);
    for (const token of live.inflight.keys()) this.o.pool.forget(token);
  }

  /** A result from a child. */
  onResult(r: PoolResult): void {
    if (this.abandoned.delete(r.id)) return; // a late result of a timed-out attempt
    const live = this.live.get(r.id.slice(0, r.id.indexOf("/")));
    const entry = live?.inflight.get(r.id);
    if (!live || !entry || live.gone) return;
    live.inflight.delete(r.id);
    this.actions++;
    const now = new Date();
    const base = { instanceId: live.id, actionSeq: entry.seq, attempt: entry.attempt, nodeId: entry.node, actionName: entry.name, childPid: r.pid, startedAt: entry.startedAt, finishedAt: now };
    if (r.ok) {
      live.attempts.push({ ...base, status: "completed", result: r.value });
      live.machine.actionSucceeded(entry.seq, entry.attempt, decode(r.value));
    } else {
      live.attempts.push({ ...base, status: r.error.name === "ActionTimeout" ? "timed_out" : "failed", error: r.error as unknown as Encoded });
      live.machine.actionFailed(entry.seq, entry.attempt, r.error, now.getTime());
      this.o.events.emit("action.failed", { id: live.id, action: entry.name, attempt: entry.attempt, error: r.error });
    }
    this.step(live);
  }

  /** Attempts whose child died: they fail at once as ActionTimeout. */
  onLost(tokens: string[], pid: number, reason: string): void {
    const touched = new Set<LiveInstance>();
    for (const token of tokens) {
      if (this.abandoned.delete(token)) continue;
      const live = this.live.get(token.slice(0, token.indexOf("/")));
      const entry = live?.inflight.get(token);
      if (!live || !entry) continue;
      live.inflight.delete(token);
      const error = timeoutError(`the worker process running ${entry.name} (pid ${pid}) died: ${reason}`);
      const now = new Date();
      live.attempts.push({ instanceId: live.id, actionSeq: entry.seq, attempt: entry.attempt, nodeId: entry.node, actionName: entry.name, status: "timed_out", error: error as unknown as Encoded, childPid: pid, startedAt: entry.startedAt, finishedAt: now });
      live.machine.actionFailed(entry.seq, entry.attempt, error, now.getTime());
      touched.add(live);
    }
    for (const live of touched) this.step(live);
  }

  /** Times out attempts past their deadline (abort, then kill after the grace period). */
  sweep(now: number): void {
    for (const [token, killAt] of this.abandoned) {
      if (now >= killAt) {
        this.abandoned.delete(token);
        this.o.pool.kill(token);
      }
    }
    for (const live of this.live.values()) {
      let touched = false;
      for (const [token, entry] of live.inflight) {
        if (now < entry.deadline) continue;
        live.inflight.delete(token);
        this.o.pool.abort([token], "timeout");
        this.abandoned.set(token, now + this.o.config.abortGraceMs);
        const error = timeoutError(`${entry.name} did not finish within ${entry.deadline - entry.startedAt.getTime()} ms (attempt ${entry.attempt})`);
        live.attempts.push({ instanceId: live.id, actionSeq: entry.seq, attempt: entry.attempt, nodeId: entry.node, actionName: entry.name, status: "timed_out", error: error as unknown as Encoded, startedAt: entry.startedAt, finishedAt: new Date(now) });
        live.machine.actionFailed(entry.seq, entry.attempt, error, now);
        touched = true;
      }
      if (touched) this.step(live);
    }
  }

  /** Forgets an instance whose lease this supervisor lost. */
  drop(id: string, why: string): void {
    const live = this.live.get(id);
    if (!live) return;
    this.o.log.warn("dropping instance", { instance: id, why });
    this.remove(live);
  }

  /** Shutdown: write every instance back (queued, or sleeping until its timer) and release it. */
  releaseAll(): void {
    for (const live of this.live.values()) {
      if (live.exit) continue;
      if (live.wakeTimer) clearTimeout(live.wakeTimer);
      live.wakeTimer = null;
      const wake = live.machine.nextWakeAt();
      const idle = !live.machine.busy() && live.inflight.size === 0;
      live.exit = idle && wake !== undefined ? { kind: "sleeping", wakeAt: wake } : { kind: "released" };
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

export { errorToData };
