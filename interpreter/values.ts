/**
 * The interpreter's state objects (environments, fibers, handles, stored iterators) and the sealed
 * faces workflow code holds instead of them (PromiseFace, IteratorFace). Workflow code is input:
 * nothing it can reach may lead to interpreter state, so that state sits in private fields or in
 * WeakMaps beside the functions. These are the objects a snapshot stores, field by field: a field
 * added here must be written and read in snapshot.ts too.
 */
import type { Encoded, ErrorData } from "../core/codec.js";
import { interpreterMade } from "../core/builtins.js";
import type { ActionOptions } from "../core/policy.js";

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

export interface ClosureInfo {
  fn: number;
  env: Env;
}

export interface ActionRefInfo {
  name: string;
  node: string;
}

/**
 * The JS functions that are workflow closures (arrow functions of the workflow) and action
 * references (an action used as a value), with what the interpreter knows of them. Kept beside
 * the functions, not on them: nothing a workflow can read or enumerate leads to an environment.
 */
export const CLOSURES = new WeakMap<object, ClosureInfo>();
export const ACTION_REFS = new WeakMap<object, ActionRefInfo>();

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

  /** What `Object.prototype.toString` shows for the native iterator ("Array Iterator", ...). */
  tag(): string {
    if (this.method === "matchAll") return "RegExp String Iterator";
    if (typeof this.src === "string") return "String Iterator";
    if (this.src instanceof Map) return "Map Iterator";
    if (this.src instanceof Set) return "Set Iterator";
    return "Array Iterator";
  }
}

/**
 * What a workflow holds for an iterator: an opaque object. Its state lives in a private field, so
 * no property read, write, spread or built-in reaches it; it is frozen; and its only members are
 * the iterator protocol, whose methods check their receiver (a held `it.next` called on another
 * object throws).
 */
export class IteratorFace {
  readonly #it: StoredIter;
  constructor(it: StoredIter) {
    this.#it = it;
    Object.freeze(interpreterMade(this));
  }

  /** The iterator behind a face, or undefined for any other value. */
  static inner(v: unknown): StoredIter | undefined {
    return typeof v === "object" && v !== null && #it in v ? (v as IteratorFace).#it : undefined;
  }

  next(): IteratorResult<unknown> {
    return this.#it.next();
  }

  [Symbol.iterator](): IteratorFace {
    void this.#it; // a receiver that is not an iterator face throws, as natively
    return this;
  }

  get [Symbol.toStringTag](): string {
    return this.#it.tag();
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
 * A step whose effect reaches beyond the instance's own state: a message sent to another
 * instance, a published value, a child workflow started. Like an action call it goes out only
 * after the state that made it is durable ("new" until then, "sent" after), and it is written
 * idempotently (store/events.ts), so one written again after a crash changes nothing twice.
 */
export type Effect = { seq: number; node: string; status: "new" | "sent" } & (
  | { kind: "send"; to: string; name: string; payload: Encoded; key: string | null }
  | { kind: "publish"; key: string; value: Encoded }
  | { kind: "start"; workflow: string; childId: string; args: Encoded[]; key: string | null; detached: boolean }
);

/** A `waitForEvent`: the mailbox it takes from (its deadline, if any, is the handle's wakeAt). */
export interface EventWait {
  seq: number;
  name: string;
  node: string;
}

/** A message of the instance's mailboxes, read by its holder (store/events.ts EventMessage). */
export interface InboxMessage {
  position: number;
  name: string;
  payload: Encoded;
  childId: string | null;
}

/**
 * A promise of the workflow: an action call, a sleep, a Promise.all, an async function's
 * result, a wait for an event, a child workflow, or an effect. Fibers wait on handles; joins (Promise.all) are handles whose children are handles.
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
  /** event: the mailbox it waits on. */
  event?: EventWait;
  /** effect, and child (its start): what goes out once durable. Cleared when it has. */
  effect?: Effect;
  /** child: the child instance it waits for. */
  childId?: string;

  /** What the workflow holds for this handle (made on first use, one per handle). */
  private faceOf: PromiseFace | undefined;

  constructor(
    public id: number,
    public kind: "act" | "sleep" | "all" | "fiber" | "event" | "child" | "effect",
  ) {}

  get face(): PromiseFace {
    return (this.faceOf ??= new PromiseFace(this));
  }

  /** A face restored from a snapshot, made before its handle was decoded. */
  attach(face: PromiseFace): void {
    this.faceOf = face;
  }
}

/**
 * What a workflow holds for a promise (an action call, a sleep, a join, an async function's
 * result): an opaque, frozen object whose handle sits in a private field, so nothing a workflow
 * does to it (read, write, spread, `Object.assign`, `JSON.stringify`, a built-in) reaches the
 * interpreter's state. Seen from workflow code it is a Promise: `${p}` is "[object Promise]",
 * `JSON.stringify(p)` is "{}".
 */
export class PromiseFace {
  #h: Handle | undefined;
  constructor(h?: Handle) {
    this.#h = h;
    Object.freeze(interpreterMade(this));
  }

  /** The handle behind a face, or undefined for any other value. */
  static handleOf(v: unknown): Handle | undefined {
    return typeof v === "object" && v !== null && #h in v ? (v as PromiseFace).#h : undefined;
  }

  /** Completes a face made empty by a snapshot restore. */
  static bind(face: PromiseFace, h: Handle): void {
    if (face.#h) throw new MachineFault("a promise restored twice");
    face.#h = h;
    h.attach(face);
  }

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
