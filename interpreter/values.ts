import type { Encoded, ErrorData } from "../sdk/codec.js";
import type { ActionOptions } from "./policy.js";

/**
 * Variables: one environment per function activation, plus one per entered block whose
 * bindings a closure captures. Arrow functions point at the environment they were created in.
 */
export class Env {
  constructor(
    public parent: Env | null,
    public vars: Record<string, unknown> = Object.create(null) as Record<string, unknown>,
  ) {}
}

/** Marks a JS function that is a workflow closure (an arrow function of the workflow). */
export const CLOSURE = Symbol.for("waymark.closure");
/** Marks a JS function that starts an action (an action used as a value). */
export const ACTION_REF = Symbol.for("waymark.actionRef");

export interface ClosureInfo {
  fn: number;
  env: Env;
}

export interface ActionRefInfo {
  name: string;
  node: string;
}

/**
 * A `for...of` over a Map or Set: iterated live, as natively (entries added during the loop are
 * visited). Stored as the collection and the count consumed; the native iterator is rebuilt
 * after a restore.
 */
export class LiveIter {
  private it: Iterator<unknown> | null = null;
  constructor(
    public src: Map<unknown, unknown> | Set<unknown>,
    public n = 0,
  ) {}

  next(): IteratorResult<unknown> {
    if (!this.it) {
      this.it = this.src[Symbol.iterator]();
      for (let i = 0; i < this.n; i++) this.it.next();
    }
    const r = this.it.next();
    if (!r.done) this.n++;
    return r;
  }
}

/** The methods whose result is an iterator over their receiver (`arr.values()`, `str.matchAll(re)`). */
export const ITERATOR_SOURCES: ReadonlySet<string> = new Set(["keys", "values", "entries", "matchAll"]);

/**
 * An iterator a workflow holds (`const it = list.values()`, `text.matchAll(re)`): stored as its
 * source, the method and arguments that made it, and how many items were taken. After a restore
 * the native iterator is made again and advanced, so an iterator held across an `await` resumes
 * where it was (an array's, as natively, sees items pushed meanwhile).
 */
export class StoredIter {
  private it: Iterator<unknown> | null = null;
  constructor(
    public src: unknown,
    public method: string,
    public args: unknown[],
    public n = 0,
    public done = false,
  ) {}

  /** Wraps `src[method](...args)`; a RegExp argument is copied, as matchAll copies it. */
  static over(src: unknown, method: string, args: unknown[]): StoredIter {
    const own = args.map((a) => {
      if (!(a instanceof RegExp)) return a;
      const copy = new RegExp(a.source, a.flags);
      copy.lastIndex = a.lastIndex;
      return copy;
    });
    const s = new StoredIter(src, method, own);
    s.native(); // fails now, as natively, for bad arguments (matchAll without the g flag)
    return s;
  }

  private native(): Iterator<unknown> {
    if (!this.it) {
      // The arguments are this iterator's own (over() copied any RegExp): making it again from
      // them gives the same items.
      const make = (this.src as Record<string, (...a: unknown[]) => Iterator<unknown>>)[this.method]!;
      this.it = make.apply(this.src, this.args);
      for (let i = 0; i < this.n; i++) this.it.next();
    }
    return this.it;
  }

  next(): IteratorResult<unknown> {
    // A finished iterator stays finished, as natively, even if its array grows later.
    if (this.done) return { done: true, value: undefined };
    const r = this.native().next();
    if (r.done) this.done = true;
    else this.n++;
    return r;
  }

  [Symbol.iterator](): StoredIter {
    return this;
  }
}

export type HandleState = "pending" | "ok" | "err";

/** An action call in flight: what the executor dispatches, retries and times out. */
export interface ActionCall {
  /** The call's sequence number in the instance: its actionId, stable across attempts. */
  seq: number;
  name: string;
  node: string;
  /** Encoded arguments. */
  args: Encoded[];
  opts: ActionOptions;
  /** Attempts started so far (the current attempt's number while running). */
  attempt: number;
  /** new: to dispatch; running: dispatched; waiting: backing off until retryAt. */
  status: "new" | "running" | "waiting";
  retryAt?: number;
  /** The last failure, while waiting to retry. */
  lastError?: ErrorData;
}

/**
 * A promise of the workflow: an action call, a sleep, a Promise.all, or an async function's
 * result. Fibers wait on handles; joins (Promise.all) are handles whose children are handles.
 */
export class Handle {
  state: HandleState = "pending";
  value: unknown = undefined;
  /** Fibers waiting on this handle. */
  waiters: number[] = [];
  /** Join handles that include this one. */
  parents: Handle[] = [];
  /** Awaited or joined: a rejection is handled. */
  handled = false;
  call?: ActionCall;
  wakeAt?: number;
  sleepValue?: unknown;
  /** Joins: the items (handles or plain values), and whether this is allSettled. */
  items?: unknown[];
  settled?: boolean;
  remaining?: number;
  /** An async function's result that returned a pending handle: settles as that handle does. */
  adopt?: boolean;

  constructor(
    public id: number,
    public kind: "act" | "sleep" | "all" | "fiber",
  ) {}

  /** Seen from workflow code, it is a Promise: `${p}` is "[object Promise]", JSON.stringify(p) is "{}". */
  get [Symbol.toStringTag](): string {
    return "Promise";
  }
  toJSON(): Record<string, never> {
    return {};
  }
}

export interface Completion {
  /** normal, return, throw, leave (break/continue through finally) */
  t: "n" | "r" | "t" | "l";
  v?: unknown;
  to?: number;
  n?: number;
  /** For "l": the block environment depth at the jump target. */
  d?: number;
}

export interface TryHandler {
  c: number | null;
  f: number | null;
  /** Index into the catch binding pattern is taken from the `try` instruction at `at`. */
  at: number;
  /** Completion stack depth when the handler was pushed. */
  cd: number;
  /** Block environment depth when the handler was pushed: restored on catch and finally. */
  ed: number;
}

/** A running function activation: run, a helper, or an async arrow function. */
export class Fiber {
  pc = 0;
  /** How many block environments `env` is deep in this activation. */
  ed = 0;
  hs: TryHandler[] = [];
  cs: Completion[] = [];
  /** The handle this fiber waits on. */
  wait: Handle | null = null;
  /** The settled value to deliver when it resumes. */
  resume: { ok: boolean; v: unknown } | null = null;
  constructor(
    public id: number,
    public fn: number,
    public env: Env,
    /** Settled with the function's result; null for synchronous calls. */
    public handle: Handle | null,
  ) {}
}

/** Thrown for broken interpreter invariants: never caught by workflow `try`/`catch`. */
export class MachineFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MachineFault";
  }
}
