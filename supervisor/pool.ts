/**
 * The supervisor's children: ChildPool forks WAYMARK_WORKER_COUNT of them, sends each attempt to
 * the least-loaded ready child, turns results and deaths into events for the shards (a child's
 * death reports its in-flight attempts lost at once), and replaces each child at its lifecycle
 * limit, spawn-before-retire. It never touches Postgres: a shard submits an attempt only after
 * writing it, so nothing runs that is not on record.
 */
import type { ActionLimits } from "../core/flow.js";
import { fork, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import { DEFAULT_MAX_VALUE_BYTES, type Encoded, errorFromData } from "../core/codec.js";
import type { Logger } from "../log/logger.js";
import {
  CHILD_INSPECT_ENV,
  CHILD_CONCURRENCY_ENV,
  CHILD_ENV,
  CHILD_MAX_VALUE_BYTES_ENV,
  CHILD_MODULES_ENV,
  type CompiledWorkflowInfo,
  type FromChild,
  type Task,
  type TaskResult,
  type ToChild,
} from "../child/protocol.js";

const CHILD_ENTRY = fileURLToPath(new URL("../child/main.js", import.meta.url));
/** Actions that take less than this (start to result, on average) get a deep queue in their child. */
const FAST_ACTION_MS = 20;

export interface PoolOptions {
  workerCount: number;
  concurrency: number;
  /** Actions a child runs before it is replaced. */
  maxLifecycle: number | undefined;
  modules: string[];
  log: Logger;
  /** Extra environment for the children (undefined removes a variable). */
  env?: Record<string, string | undefined>;
  /** Largest stored form of an action's result (WAYMARK_MAX_VALUE_BYTES). */
  maxValueBytes?: number;
  /**
   * WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: a child not ready this long after it was spawned (plus
   * a few seconds for its own timeout to speak first) is killed. Its own timer cannot fire while
   * a module's top-level code never returns.
   */
  loadTimeoutMs?: number;
}

/** Time a child gets past WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS to report its own load error before it is killed. */
const LOAD_KILL_GRACE_MS = 5_000;

/** A result as the executor sees it: the attempt token, the outcome, the child that ran it and when it started there. */
export type PoolResult = TaskResult & { pid: number; startedAt: number | undefined };

export interface PoolEvents {
  result: [PoolResult];
  /** A child died: its in-flight attempts, failed as ActionTimeout by the executor. */
  lost: [{ ids: string[]; pid: number; reason: string }];
  ready: [{ pid: number; actions: string[]; workflows: CompiledWorkflowInfo[] }];
  /** The backlog fell to what the children can take at once: time to claim more. */
  drained: [];
  /** Running attempts' latest progress. */
  progress: [Array<{ id: string; progress: Encoded }>];
}

type ChildState = "starting" | "ready" | "retiring" | "dead";

class Child {
  state: ChildState = "starting";
  readonly inflight = new Set<string>();
  /** Attempts dispatched over this child's life. */
  dispatched = 0;
  readonly spawnedAt = Date.now();
  /** Handles its end once (see spawn): at "close", a second after "exit", or at once in stop(). */
  gone: (code: number | null, signal: NodeJS.Signals | null) => void = () => undefined;
  outbox: Task[] = [];
  /**
   * Sent tasks the child has not started: it runs them in arrival order, `concurrency` at a
   * time (p-queue), so each result it returns starts the next one. The pool infers start times
   * from that instead of a message per start: a timeout counts from the start, not from a wait
   * in the child's queue.
   */
  readonly waiting = new Fifo<string>();
  /** Sent tasks running in the child (started, not settled). */
  running = 0;
  /** Moving average of how long its tasks take, start to result (ms); undefined before the first. */
  avgMs: number | undefined;
  /** Set (to the limit) when it was killed for not loading the user modules in time. */
  loadTimedOut: number | undefined;
  exited: Promise<void>;
  constructor(
    readonly proc: ChildProcess,
    readonly slot: Slot,
  ) {
    this.exited = new Promise((resolve) => proc.once("exit", () => resolve()));
  }
  get pid(): number {
    return this.proc.pid ?? -1;
  }
}

/**
 * One of WAYMARK_WORKER_COUNT positions in the pool. Recycling is spawn-before-retire, per slot:
 * while `current` works toward its lifecycle limit its `successor` is spawned and loads the user
 * modules; at the limit `current` takes no more work, drains and exits, and the successor takes
 * over. A slot never holds more than two processes, and each retirement has exactly one
 * successor (a flag on the slot, not a count of events, decides).
 */
class Slot {
  current: Child | null = null;
  successor: Child | null = null;
  retiring: Child[] = [];
  /** A replacement is waiting out its backoff: nothing else spawns for this slot meanwhile. */
  respawnPending = false;
  constructor(readonly index: number) {}
  size(): number {
    return (this.current ? 1 : 0) + (this.successor ? 1 : 0) + this.retiring.length;
  }
}

/**
 * Errors of an IPC channel whose child has just died or is exiting (a write racing its exit, a
 * send after the channel closed). They are expected: the child's exit handler reports its
 * attempts lost and replaces it, so they are logged at debug, not as faults.
 */
const CHANNEL_GONE = new Set(["EPIPE", "ECONNRESET", "ERR_IPC_CHANNEL_CLOSED", "ERR_IPC_DISCONNECTED"]);

export function channelGone(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && CHANNEL_GONE.has(code);
}

/** A FIFO with O(1) shift (an array's shift is O(n), and the queue can hold thousands). */
class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(...items: T[]): void {
    this.items.push(...items);
  }
  unshift(...items: T[]): void {
    this.items = [...items, ...this.items.slice(this.head)];
    this.head = 0;
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const t = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return t;
  }
  /** Removes the items `drop` picks. */
  remove(drop: (item: T) => boolean): void {
    this.items = this.items.slice(this.head).filter((t) => t !== undefined && !drop(t));
    this.head = 0;
  }
}

/** A child's report that a user module failed to load, as the error the start fails with. */
function loadError(msg: Extract<FromChild, { t: "load-error" }>): Error {
  const wrapped = new Error(`user module ${msg.module} failed to load in the worker: ${msg.error.name}: ${msg.error.message}`, {
    cause: errorFromData(msg.error),
  });
  wrapped.stack = `${wrapped.message}\n${msg.error.stack ?? ""}`;
  return wrapped;
}

function loadTimedOut(modules: string[], limitMs: number): Error {
  return new Error(
    `a worker did not finish loading the user modules (${modules.join(", ")}) within ${limitMs} ms (WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS) and was killed: does a module run an endless loop, or block, at its top level?`,
  );
}

export class ChildPool extends EventEmitter<PoolEvents> {
  private readonly slots: Slot[];
  private readonly queue = new Fifo<Task>();
  private readonly owner = new Map<string, Child>();
  private stopping = false;
  private readonly shutdownAborted = new Set<string>();
  private flushScheduled = false;
  private respawnDelay = 100;
  /** When each task that is running in a child started there (inferred; see Child.waiting). */
  private readonly started = new Map<string, number>();
  /** Highest number of live child processes seen (for tests and status). */
  peakChildren = 0;
  readonly pidsSeen = new Set<number>();
  recycled = 0;

  constructor(private readonly opts: PoolOptions) {
    super();
    this.slots = Array.from({ length: opts.workerCount }, (_, i) => new Slot(i));
  }

  /** Spawns the children; rejects with the module's error if a user module cannot load. */
  async start(): Promise<void> {
    const ready = this.slots.map(
      (slot) =>
        new Promise<void>((resolve, reject) => {
          const child = this.spawn(slot, { resolve, reject });
          slot.current = child;
        }),
    );
    await Promise.all(ready);
  }

  private liveChildren(): number {
    return this.slots.reduce((n, s) => n + s.size(), 0);
  }

  /** Forks the child entry with the pool's settings on top of the supervisor's environment. */
  private fork(extra: Record<string, string> = {}): ChildProcess {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.opts.env };
    for (const [k, v] of Object.entries(this.opts.env ?? {})) if (v === undefined) delete env[k];
    return fork(CHILD_ENTRY, [], {
      env: {
        ...env,
        [CHILD_ENV]: "1",
        [CHILD_MODULES_ENV]: JSON.stringify(this.opts.modules),
        [CHILD_CONCURRENCY_ENV]: String(this.opts.concurrency),
        [CHILD_MAX_VALUE_BYTES_ENV]: String(this.opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES),
        ...extra,
      },
      execArgv: ["--enable-source-maps", ...process.execArgv.filter((a) => !a.startsWith("--inspect"))],
      serialization: "json",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
  }

  /**
   * Loads the user modules once, in a process of its own that compiles (and so checks) their
   * workflows, reports them and exits: the action children never compile, so they never load
   * the compiler or swc. Rejects as the children's start-up does when a module cannot load.
   */
  inspect(): Promise<{ workflows: CompiledWorkflowInfo[]; limits: Record<string, ActionLimits> }> {
    const proc = this.fork({ [CHILD_INSPECT_ENV]: "1" });
    return new Promise((resolve, reject) => {
      let workflows: CompiledWorkflowInfo[] | undefined;
      let limits: Record<string, ActionLimits> = {};
      let failure: Error | undefined;
      const limit = this.opts.loadTimeoutMs;
      const timer =
        limit === undefined
          ? undefined
          : setTimeout(() => {
              failure = loadTimedOut(this.opts.modules, limit);
              proc.kill("SIGKILL");
            }, limit + LOAD_KILL_GRACE_MS);
      proc.on("message", (msg: FromChild) => {
        if (msg.t === "ready") {
          workflows = msg.workflows;
          limits = msg.limits ?? {};
        } else if (msg.t === "load-error") failure = loadError(msg);
      });
      proc.on("error", (err) => {
        if (!channelGone(err)) failure ??= err;
      });
      proc.once("close", (code, signal) => {
        clearTimeout(timer);
        if (workflows && !failure) resolve({ workflows, limits });
        else
          reject(
            failure ??
              new Error(
                `the process that compiles the user modules' workflows exited (${signal ? `signal ${signal}` : `exit code ${code}`}) before reporting them`,
              ),
          );
      });
    });
  }

  private spawn(slot: Slot, startup?: { resolve(): void; reject(e: Error): void }): Child {
    const proc = this.fork();
    const child = new Child(proc, slot);
    if (proc.pid) this.pidsSeen.add(proc.pid);
    if (this.opts.loadTimeoutMs !== undefined) {
      const limit = this.opts.loadTimeoutMs;
      const timer = setTimeout(() => {
        if (child.state !== "starting") return;
        child.loadTimedOut = limit;
        this.opts.log.error("a worker did not finish loading the user modules in time; killing it", { pid: child.pid, timeoutMs: limit });
        proc.kill("SIGKILL");
      }, limit + LOAD_KILL_GRACE_MS);
      timer.unref();
      void child.exited.then(() => clearTimeout(timer));
    }
    this.peakChildren = Math.max(this.peakChildren, this.liveChildren() + 1);
    proc.on("message", (msg: FromChild) => this.onMessage(child, msg, startup));
    // A child is gone when its IPC channel has been read to the end ("close"), not at "exit": the
    // results it sent just before exiting may still be in the pipe. (A grandchild that inherited
    // the channel could hold it open, and a channel we disconnected never closes: then "exit"
    // plus a second decides.)
    let gone = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null) => {
      if (gone) return;
      gone = true;
      this.onExit(child, code, signal, startup);
    };
    child.gone = onGone;
    proc.once("close", onGone);
    proc.once("exit", (code, signal) => setTimeout(() => onGone(code, signal), 1000).unref());
    proc.on("error", (err) => {
      // A message written as the child died fails with EPIPE: expected, and its exit handler
      // reports its attempts lost. Anything else is a real fault.
      if (channelGone(err))
        this.opts.log.debug("a message to a worker that is exiting was not delivered", { pid: child.pid, code: (err as NodeJS.ErrnoException).code });
      else this.opts.log.error("child process error", { pid: child.pid, error: err });
    });
    return child;
  }

  private onMessage(child: Child, msg: FromChild, startup?: { resolve(): void; reject(e: Error): void }): void {
    switch (msg.t) {
      case "ready": {
        child.state = child.state === "starting" ? "ready" : child.state;
        this.respawnDelay = 100;
        this.emit("ready", { pid: msg.pid, actions: msg.actions, workflows: msg.workflows });
        const slot = child.slot;
        if (slot.successor === child && !slot.current) {
          slot.current = child;
          slot.successor = null;
        }
        startup?.resolve();
        this.pump();
        return;
      }
      case "load-error": {
        child.state = "dead";
        if (startup) startup.reject(loadError(msg));
        else {
          this.opts.log.error("a replacement worker could not load the user modules; retrying with backoff", {
            pid: child.pid,
            module: msg.module,
            error: msg.error.message,
          });
          // It exits on its own; a module that left a timer or socket open would keep it (and
          // its place in the slot) forever.
          child.proc.kill("SIGKILL");
        }
        return;
      }
      case "progress": {
        const items = msg.items.filter((i) => this.owner.get(i.id) === child);
        if (items.length) this.emit("progress", items);
        return;
      }
      case "results": {
        const now = Date.now();
        for (const r of msg.results) this.settled(child, r.id, now);
        for (const r of msg.results) {
          const startedAt = this.started.get(r.id);
          this.started.delete(r.id);
          if (this.owner.get(r.id) !== child) continue;
          this.owner.delete(r.id);
          child.inflight.delete(r.id);
          // An action that failed because shutdown aborted it did not fail on its own: it is
          // lost (and retried by the next owner), not an error of the workflow.
          if (!r.ok && this.shutdownAborted.has(r.id))
            this.emit("lost", { ids: [r.id], pid: child.pid, reason: "the supervisor's shutdown aborted it past the grace period" });
          else this.emit("result", { ...r, pid: child.pid, startedAt } as PoolResult);
        }
        this.pump();
        return;
      }
      case "retired":
        return;
    }
  }

  /** A task settled in this child: the next waiting one starts (see Child.waiting). */
  private settled(child: Child, id: string, now: number): void {
    const startedAt = this.started.get(id);
    if (startedAt !== undefined) {
      child.running--;
      const ms = now - startedAt;
      child.avgMs = child.avgMs === undefined ? ms : child.avgMs * 0.9 + ms * 0.1;
    }
    // Not known to have started (an inference that fell behind): it is no longer waiting.
    else child.waiting.remove((w) => w === id);
    while (child.running < this.opts.concurrency && child.waiting.length) {
      child.running++;
      this.started.set(child.waiting.shift()!, now);
    }
  }

  /** The pid of the child a task was sent to. */
  pidOf(id: string): number | undefined {
    return this.owner.get(id)?.pid;
  }

  /** When a task started in its child, or undefined while it waits there (or was not sent). */
  startedAt(id: string): number | undefined {
    return this.started.get(id);
  }

  private onExit(child: Child, code: number | null, signal: NodeJS.Signals | null, startup?: { resolve(): void; reject(e: Error): void }): void {
    const wasState = child.state;
    child.state = "dead";
    child.running = 0;
    const slot = child.slot;
    // Tasks batched for this child but not yet sent go back to the queue: they never started, so
    // they are not lost attempts (reporting them too would run them twice).
    const unsent = new Set(child.outbox.map((t) => t.id));
    const all = [...child.inflight];
    const ids = all.filter((id) => !unsent.has(id));
    for (const id of all) this.owner.delete(id);
    child.inflight.clear();
    this.queue.unshift(...child.outbox);
    child.outbox = [];
    if (slot.current === child) slot.current = null;
    if (slot.successor === child) slot.successor = null;
    slot.retiring = slot.retiring.filter((c) => c !== child);
    const reason = signal ? `signal ${signal}` : `exit code ${code}`;
    if (ids.length) this.emit("lost", { ids, pid: child.pid, reason: `its worker process died (${reason})` });
    for (const id of all) this.started.delete(id);
    if (startup && wasState === "starting") {
      startup.reject(
        child.loadTimedOut !== undefined
          ? loadTimedOut(this.opts.modules, child.loadTimedOut)
          : new Error(`a worker process exited during start-up (${reason}) before loading the user modules`),
      );
      return;
    }
    if (this.stopping) return;
    if (wasState !== "retiring") this.opts.log.warn("worker process died; replacing it", { pid: child.pid, reason, inflight: ids.length });
    // Keep the pool at full strength: a slot without a current child gets one, and a current
    // child whose successor is due (one that retired made room, or one that died) gets it. After
    // a retirement at once; after a death with backoff (a module that keeps failing to load).
    const max = this.opts.maxLifecycle;
    const wanted = () => {
      const cur = slot.current;
      return !cur || (!!max && cur.dispatched >= Math.min(this.spawnAt(max), max - 1));
    };
    if (this.canSpawn(slot) && wanted()) {
      const delay = wasState === "retiring" ? 0 : this.respawnDelay;
      if (wasState !== "retiring") this.respawnDelay = Math.min(this.respawnDelay * 2, 10_000);
      slot.respawnPending = true;
      setTimeout(() => {
        slot.respawnPending = false;
        if (wanted()) this.spawnSuccessor(slot);
      }, delay).unref();
    }
    this.pump();
  }

  /** Queues an attempt; it is sent to the least-loaded child with a free slot. */
  submit(task: Task): void {
    this.queue.push(task);
    this.pump();
  }

  /** Free action slots across the ready children. */
  freeSlots(): number {
    let free = 0;
    for (const s of this.slots) if (s.current?.state === "ready") free += this.opts.concurrency - s.current.inflight.size;
    return free - this.queue.length;
  }

  get totalSlots(): number {
    return this.opts.workerCount * this.opts.concurrency;
  }

  get queued(): number {
    return this.queue.length;
  }

  inflightCount(): number {
    return this.owner.size;
  }

  /** Per-child counts for the status row. */
  children(): Array<{ pid: number; slot: number; state: ChildState; inflight: number; dispatched: number; startedAt: number }> {
    const out: Array<{ pid: number; slot: number; state: ChildState; inflight: number; dispatched: number; startedAt: number }> = [];
    for (const s of this.slots) {
      for (const c of [s.current, s.successor, ...s.retiring]) {
        if (c) out.push({ pid: c.pid, slot: s.index, state: c.state, inflight: c.inflight.size, dispatched: c.dispatched, startedAt: c.spawnedAt });
      }
    }
    return out;
  }

  /**
   * How many tasks a child may hold, running and queued. Its own queue holds the next tasks, so
   * it never waits a round trip for work, and sends and results travel in bigger batches (on a
   * 2-core VM each IPC message costs the supervisor ~0.4 ms of wake-ups: 16x concurrency, against
   * 4x, took fan-out from 12,200 to 17,600 actions/s). Only for fast actions: slow ones wait in
   * the supervisor's queue, for whichever child frees a slot first.
   */
  private depth(c: Child): number {
    return this.opts.concurrency * (c.avgMs !== undefined && c.avgMs < FAST_ACTION_MS ? 16 : 2);
  }

  private pick(): Child | undefined {
    let best: Child | undefined;
    for (const s of this.slots) {
      const c = s.current;
      if (c?.state !== "ready" || c.inflight.size >= this.depth(c)) continue;
      if (!this.mayTakeLast(c)) continue;
      if (!best || c.inflight.size < best.inflight.size) best = c;
    }
    return best;
  }

  private pump(): void {
    const backlog = this.queue.length > this.totalSlots;
    while (this.queue.length && !this.stopping) {
      const child = this.pick();
      if (!child) break;
      const task = this.queue.shift()!;
      child.inflight.add(task.id);
      this.owner.set(task.id, child);
      child.outbox.push(task);
      child.dispatched++;
      this.lifecycle(child);
    }
    if (backlog && this.queue.length <= this.totalSlots) this.emit("drained");
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Idle: send after the current microtasks (latency). Busy: after this turn of the event
      // loop, so the results arriving meanwhile add to the same messages (throughput).
      if (this.queue.length) setImmediate(() => this.flush());
      else process.nextTick(() => this.flush());
    }
  }

  /**
   * Whether the slot may spawn a successor: it has none, holds fewer than two processes (never
   * more), is not waiting out a respawn backoff, and the pool is not stopping.
   */
  private canSpawn(slot: Slot): boolean {
    return !slot.successor && slot.size() < 2 && !slot.respawnPending && !this.stopping;
  }

  private spawnSuccessor(slot: Slot): void {
    if (this.canSpawn(slot)) slot.successor = this.spawn(slot);
  }

  /** Dispatches after which a child's successor is spawned. */
  private spawnAt(max: number): number {
    return Math.max(1, max - Math.max(this.opts.concurrency, Math.ceil(max / 2)));
  }

  /**
   * Spawn-before-retire: a child takes the task that ends its lifecycle only once its successor
   * has loaded the user modules, so the slot always has a child taking work. (Its successor is
   * spawned here if it is due and the slot has room.)
   */
  private mayTakeLast(c: Child): boolean {
    const max = this.opts.maxLifecycle;
    if (!max || c.dispatched < max - 1) return true;
    this.spawnSuccessor(c.slot);
    return c.slot.successor?.state === "ready";
  }

  /** Spawn the successor ahead of the limit; retire at the limit. */
  private lifecycle(child: Child): void {
    const max = this.opts.maxLifecycle;
    if (!max) return;
    const slot = child.slot;
    if (child.dispatched >= this.spawnAt(max)) this.spawnSuccessor(slot);
    if (child.dispatched >= max) {
      child.state = "retiring";
      slot.current = null;
      slot.retiring.push(child);
      this.recycled++;
      // Exactly one successor per retirement: the slot's flag, set here if not already.
      this.spawnSuccessor(slot);
      if (slot.successor?.state === "ready") {
        slot.current = slot.successor;
        slot.successor = null;
      }
      this.flushChild(child);
      this.send(child, { t: "retire" });
    }
  }

  private send(child: Child, msg: ToChild): void {
    if (child.proc.connected) {
      try {
        child.proc.send(msg);
      } catch (e) {
        if (channelGone(e))
          this.opts.log.debug("a message to a worker that is exiting was not delivered", { pid: child.pid, code: (e as NodeJS.ErrnoException).code });
        else this.opts.log.error("could not message a worker", { pid: child.pid, error: e });
      }
    }
  }

  private flushChild(child: Child): void {
    if (!child.outbox.length) return;
    const tasks = child.outbox;
    child.outbox = [];
    const now = Date.now();
    for (const task of tasks) {
      if (child.running < this.opts.concurrency && !child.waiting.length) {
        child.running++;
        this.started.set(task.id, now);
      } else child.waiting.push(task.id);
    }
    this.send(child, { t: "run", tasks });
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const s of this.slots) for (const c of [s.current, ...s.retiring]) if (c) this.flushChild(c);
  }

  /** Attempts submitted but never sent to a child (at shutdown: they did not start). */
  unsent(): Set<string> {
    const ids = new Set<string>();
    for (let t = this.queue.shift(); t; t = this.queue.shift()) ids.add(t.id);
    for (const s of this.slots) for (const c of [s.current, s.successor, ...s.retiring]) for (const t of c?.outbox ?? []) ids.add(t.id);
    return ids;
  }

  /** Resolves when no attempt is in flight, or at the deadline. */
  private drained(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.off("result", check);
        this.off("lost", check);
        clearTimeout(timer);
        resolve();
      };
      const check = () => {
        if (!this.owner.size || Date.now() >= deadline) done();
      };
      // The timer ends the wait itself: a timer may fire a millisecond before Date.now() reaches
      // the deadline, and a check that found it not yet due would wait for an event that may
      // never come (a shutdown hung until the orchestrator's SIGKILL).
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.on("result", check);
      this.on("lost", check);
      check();
    });
  }

  /** Fires the abort signal of these attempts in their children. */
  abort(ids: string[], reason: "timeout" | "cancelled" | "shutdown"): void {
    const byChild = new Map<Child, string[]>();
    const notStarted = new Set<string>();
    for (const id of ids) {
      const c = this.owner.get(id);
      if (c) byChild.set(c, [...(byChild.get(c) ?? []), id]);
      else notStarted.add(id);
    }
    if (notStarted.size) this.queue.remove((t) => notStarted.has(t.id));
    for (const [c, list] of byChild) {
      // A task batched for this child but not sent yet goes first: an abort that overtook its
      // task would find nothing to abort, and the task would then run.
      this.flushChild(c);
      this.send(c, { t: "abort", ids: list, reason });
    }
  }

  /** Forgets an attempt (its result will be ignored) without touching its child. */
  forget(id: string): void {
    const c = this.owner.get(id);
    if (c) c.inflight.delete(id);
    this.owner.delete(id);
    // Its start time stays until the child settles it: the child still runs it.
  }

  /** Kills the child running this attempt (it ignored its abort); the pool replaces it. */
  kill(id: string): void {
    const c = this.owner.get(id);
    if (c && c.state !== "dead") {
      this.opts.log.warn("killing a worker whose action ignored its abort", { pid: c.pid, attempt: id });
      c.proc.kill("SIGKILL");
    }
  }

  /**
   * Stops taking work and waits up to `graceMs` for in-flight attempts; attempts still running
   * then get their abort signal ("shutdown", so their clean-ups run) and `abortGraceMs` more;
   * then every child stops.
   */
  async stop(graceMs: number, abortGraceMs = 2000): Promise<void> {
    this.stopping = true;
    const children = this.slots.flatMap((s) => [s.current, s.successor, ...s.retiring]).filter((c): c is Child => !!c && c.state !== "dead");
    await this.drained(Date.now() + graceMs);
    if (this.owner.size) {
      this.opts.log.warn("the shutdown grace period is over: aborting the actions still running", { actions: this.owner.size });
      for (const id of this.owner.keys()) this.shutdownAborted.add(id);
      this.abort([...this.owner.keys()], "shutdown");
      await this.drained(Date.now() + abortGraceMs);
    }
    for (const c of children) {
      if (c.proc.connected) c.proc.disconnect();
      c.proc.kill("SIGTERM");
    }
    const killer = setTimeout(() => {
      for (const c of children) c.proc.kill("SIGKILL");
    }, 2000);
    await Promise.all(children.map((c) => c.exited));
    clearTimeout(killer);
    // Their channels were disconnected, so "close" will not come: their in-flight attempts are
    // reported lost now, before the executor writes its instances back.
    for (const c of children) c.gone(c.proc.exitCode, c.proc.signalCode);
  }
}
