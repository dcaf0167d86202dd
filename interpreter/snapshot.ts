/**
 * Machine snapshots: the whole interpreter state as one object graph (fibers, their
 * environments, handles, closures), encoded with shared references kept. Only what is
 * reachable is written: settled handles nobody holds and finished fibers drop out, so a long
 * instance's snapshot stays as small as its live state. Snapshots outlive releases: a change of
 * layout bumps FORMAT, and a snapshot of an older format is upgraded as it is read.
 */
import { GLOBALS, PROTOTYPE_METHODS } from "../core/builtins.js";
import type { WorkflowIR } from "../core/ir.js";
import { decodeParsed, encodeGraphPieces, type CodecExtension, type Encoded } from "../core/codec.js";
import { SLICE_STEPS } from "../core/limits.js";
import { Machine, type MachineOptions } from "./machine.js";
import { ACTION_REFS, CLOSURES, Env, Fiber, Handle, IteratorFace, LiveIter, PromiseFace, StoredIter, type ActionRefInfo } from "./values.js";

const FORMAT = 2;

interface SnapshotRoot {
  v: number;
  seq: number;
  hseq: number;
  fseq: number;
  main: number;
  /** The main fiber's handle, while its outcome is pending (it may adopt a returned handle). */
  mh?: Handle;
  fibers: Fiber[];
  /** Pending action calls: in flight or waiting, referenced or not. */
  actions: Handle[];
  timers: Handle[];
  /** Effects not yet acknowledged, waits for events (oldest first), children waited for. */
  effects?: Handle[];
  waits?: Handle[];
  children?: Handle[];
  /** Fibers queued to run, in order: one that handed the event loop back mid-run continues first. */
  run?: number[];
  /** Steps run since the instance last waited (it is mid-run): the step limit counts on after a restore. */
  steps?: number;
  /** The number of the last log record made, when it has logged: a restored machine numbers on. */
  ls?: number;
}

/** Built-in functions a variable may hold (`const max = Math.max`), stored by their path. */
const GLOBAL_PATHS = new Map<unknown, string>();
for (const [path, value] of GLOBALS) if (typeof value === "function" && !GLOBAL_PATHS.has(value)) GLOBAL_PATHS.set(value, path);

/** Built-in prototype methods held as values (`const at = list.at`), stored as "Owner#name". */
const METHOD_PATHS = new Map<unknown, string>();
const METHODS_BY_PATH = new Map<string, unknown>();
for (const [owner, proto, names] of PROTOTYPE_METHODS) {
  for (const name of names) {
    const fn = (proto as Record<string, unknown>)[name];
    const path = `${owner}#${name}`;
    if (typeof fn === "function" && !METHOD_PATHS.has(fn) && !GLOBAL_PATHS.has(fn)) METHOD_PATHS.set(fn, path);
    METHODS_BY_PATH.set(path, fn);
  }
}

/** The own properties RegExp match arrays carry (`exec`, `match`, `matchAll` results). */
const MATCH_PROPS = ["index", "input", "groups", "indices"] as const;

function isMatchArray(value: object): value is unknown[] {
  return Array.isArray(value) && (Object.hasOwn(value, "index") || Object.hasOwn(value, "input"));
}

function present<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function extension(m: Machine): CodecExtension {
  return {
    encode(value: object) {
      if (value instanceof Env) return { tag: "env", data: { p: value.parent, v: value.vars } };
      if (value instanceof LiveIter) return { tag: "li", data: { s: value.src, n: value.n } };
      // Faces are checked by their private brand, once their class says they may be one.
      if (value instanceof IteratorFace) {
        const it = IteratorFace.inner(value)!;
        return { tag: "si", data: { s: it.src, m: it.method, a: it.args, n: it.n, d: it.done || undefined } };
      }
      if (value instanceof PromiseFace) return { tag: "p", data: PromiseFace.handleOf(value) };
      if (isMatchArray(value)) {
        const props: Record<string, unknown> = {};
        for (const k of MATCH_PROPS) if (Object.hasOwn(value, k)) props[k] = (value as unknown as Record<string, unknown>)[k];
        return { tag: "ma", data: { items: [...value], props } };
      }
      if (value instanceof Handle) {
        return {
          tag: "h",
          data: present({
            id: value.id,
            kind: value.kind,
            state: value.state,
            value: value.state === "pending" ? undefined : value.value,
            waiters: value.waiters.length ? value.waiters : undefined,
            parents: value.parents.length ? value.parents : undefined,
            handled: value.handled || undefined,
            call: value.call,
            wakeAt: value.wakeAt,
            sleepValue: value.sleepValue,
            items: value.items,
            settled: value.settled,
            remaining: value.remaining,
            adopt: value.adopt,
            event: value.event,
            effect: value.effect,
            childId: value.childId,
          }),
        };
      }
      if (value instanceof Fiber) {
        return {
          tag: "f",
          data: present({
            id: value.id,
            fn: value.fn,
            pc: value.pc,
            ed: value.ed || undefined,
            env: value.env,
            hs: value.hs,
            cs: value.cs,
            wait: value.wait ?? undefined,
            resume: value.resume ?? undefined,
            handle: value.handle ?? undefined,
          }),
        };
      }
      if (typeof value === "function") {
        const closure = CLOSURES.get(value);
        if (closure) return { tag: "fn", data: { f: closure.fn, e: closure.env } };
        const ref = ACTION_REFS.get(value);
        if (ref) return { tag: "ar", data: { name: ref.name, node: ref.node } };
        const path = GLOBAL_PATHS.get(value);
        if (path !== undefined) return { tag: "g", data: path };
        const method = METHOD_PATHS.get(value);
        if (method !== undefined) return { tag: "pm", data: method };
      }
      if (value instanceof RegExp) return { tag: "re", data: { s: value.source, f: value.flags, i: value.lastIndex } };
      // `Object.freeze` is part of the workflow language: a frozen object stays frozen.
      if (Object.isFrozen(value)) {
        if (Array.isArray(value)) return { tag: "frza", data: [...value] };
        const proto = Object.getPrototypeOf(value);
        if (proto === Object.prototype || proto === null) return { tag: "frzo", data: { ...value } };
      }
      return undefined;
    },
    create(tag: string) {
      switch (tag) {
        case "env":
          return new Env(null);
        case "h":
          return new Handle(0, "act");
        case "f":
          return new Fiber(0, 0, new Env(null), null);
        case "li":
          return new LiveIter(new Set());
        case "si":
          return new IteratorFace(new StoredIter(null, "", []));
        case "p":
          return new PromiseFace();
        case "ma":
          return [];
        case "frza":
          return [];
        case "frzo":
          return {};
        case "fn":
          return m.closure(0, new Env(null));
        default:
          return undefined;
      }
    },
    build(tag: string, data: unknown) {
      if (tag === "ar") {
        const d = data as ActionRefInfo;
        return m.actionRef(d.name, d.node);
      }
      if (tag === "pm") {
        if (!METHODS_BY_PATH.has(data as string)) throw new Error(`unknown built-in method ${String(data)} in a snapshot`);
        return METHODS_BY_PATH.get(data as string);
      }
      if (tag === "g") {
        if (!GLOBALS.has(data as string)) throw new Error(`unknown built-in ${String(data)} in a snapshot`);
        return GLOBALS.get(data as string);
      }
      if (tag === "re") {
        const d = data as { s: string; f: string; i: number };
        const re = new RegExp(d.s, d.f);
        re.lastIndex = d.i;
        return re;
      }
      throw new Error(`unknown snapshot tag ${tag}`);
    },
    fill(target: object, tag: string, data: unknown) {
      const d = data as Record<string, unknown>;
      if (tag === "env") {
        const env = target as Env;
        env.parent = d.p as Env | null;
        env.vars = Object.assign(Object.create(null) as Record<string, unknown>, d.v as Record<string, unknown>);
      } else if (tag === "h") {
        const h = target as Handle;
        h.id = d.id as number;
        h.kind = d.kind as Handle["kind"];
        h.state = d.state as Handle["state"];
        h.value = d.value;
        h.waiters = (d.waiters as number[] | undefined) ?? [];
        h.parents = (d.parents as Handle[] | undefined) ?? [];
        h.handled = d.handled === true;
        if (d.call) h.call = d.call as Handle["call"];
        if (d.wakeAt !== undefined) h.wakeAt = d.wakeAt as number;
        if ("sleepValue" in d) h.sleepValue = d.sleepValue;
        if (d.items) h.items = d.items as unknown[];
        if (d.settled !== undefined) h.settled = d.settled as boolean;
        if (d.remaining !== undefined) h.remaining = d.remaining as number;
        if (d.adopt) h.adopt = true;
        if (d.event) h.event = d.event as Handle["event"];
        if (d.effect) h.effect = d.effect as Handle["effect"];
        if (d.childId !== undefined) h.childId = d.childId as string;
      } else if (tag === "f") {
        const f = target as Fiber;
        f.id = d.id as number;
        f.fn = d.fn as number;
        f.pc = d.pc as number;
        f.ed = (d.ed as number | undefined) ?? 0;
        f.env = d.env as Env;
        f.hs = d.hs as Fiber["hs"];
        f.cs = d.cs as Fiber["cs"];
        f.wait = (d.wait as Handle | undefined) ?? null;
        f.resume = (d.resume as Fiber["resume"] | undefined) ?? null;
        f.handle = (d.handle as Handle | undefined) ?? null;
      } else if (tag === "li") {
        const it = target as LiveIter;
        it.src = d.s as LiveIter["src"];
        it.n = d.n as number;
      } else if (tag === "p") {
        PromiseFace.bind(target as PromiseFace, data as Handle);
      } else if (tag === "si") {
        const it = IteratorFace.inner(target)!;
        it.src = d.s;
        it.method = d.m as string;
        it.args = d.a as unknown[];
        it.n = d.n as number;
        it.done = d.d === true;
      } else if (tag === "ma") {
        const arr = target as unknown[];
        arr.push(...(d.items as unknown[]));
        for (const [k, v] of Object.entries(d.props as Record<string, unknown>)) (arr as unknown as Record<string, unknown>)[k] = v;
      } else if (tag === "frza" || tag === "frzo") {
        if (tag === "frza") (target as unknown[]).push(...(data as unknown[]));
        else for (const [k, v] of Object.entries(d)) Object.defineProperty(target, k, { value: v, writable: true, enumerable: true, configurable: true });
        Object.freeze(target);
      } else if (tag === "fn") {
        const info = CLOSURES.get(target)!;
        info.fn = d.f as number;
        info.env = d.e as Env;
      }
    },
  };
}

/** The machine's state as text for Postgres. */
export function snapshotWrite(m: Machine): string {
  return snapshotPieces(m).join("");
}

/** The machine's state as text for Postgres, in pieces to be joined (large arrays in their remembered blocks). */
export function snapshotPieces(m: Machine): string[] {
  const root: SnapshotRoot = {
    v: FORMAT,
    seq: m.seq,
    hseq: m.hseq,
    fseq: m.fseq,
    main: m.main,
    mh: m.mainHandle ?? undefined,
    fibers: [...m.fibers.values()],
    actions: [...m.actions.values()],
    timers: [...m.timers],
  };
  if (m.effects.size) root.effects = [...m.effects.values()];
  if (m.waits.length) root.waits = [...m.waits];
  if (m.children.size) root.children = [...m.children.values()];
  if (m.logSeq) root.ls = m.logSeq;
  if (m.runnable.length) {
    root.run = m.runnable.map((f) => f.id);
    root.steps = m.steps;
  }
  return encodeGraphPieces(root, extension(m), m.arrayTexts);
}

/** Rebuilds a machine from a snapshot. */
export function snapshotRead(ir: WorkflowIR, text: string, options?: MachineOptions): Machine {
  const m = new Machine(ir, options);
  const root = decodeParsed(JSON.parse(text) as Encoded, extension(m)) as SnapshotRoot;
  if (root.v === 1) upgradeFormat1(root);
  else if (root.v !== FORMAT) throw new Error(`snapshot format ${root.v} is not supported by this waymark (expects ${FORMAT})`);
  m.seq = root.seq;
  m.hseq = root.hseq;
  m.fseq = root.fseq;
  m.main = root.main;
  m.mainHandle = root.mh ?? null;
  for (const f of root.fibers) m.fibers.set(f.id, f);
  for (const h of root.actions) m.actions.set(h.call!.seq, h);
  for (const h of root.timers) m.addTimer(h);
  for (const h of root.effects ?? []) m.addEffect(h);
  m.waits.push(...(root.waits ?? []));
  for (const h of root.children ?? []) m.addChild(h);
  m.logSeq = root.ls ?? 0;
  m.steps = root.steps ?? 0;
  m.checkAt = Math.min(m.steps + SLICE_STEPS, m.stepLimit + 1);
  m.resumeAfterRestore(root.run);
  return m;
}

/**
 * Format 1 (waymark before promises were opaque) held a promise as its handle wherever the
 * workflow held it: put faces in those places, so an instance written by the older version
 * resumes sealed. Internal places (a fiber's wait, a join's parents, the action table) keep
 * their handles.
 */
function upgradeFormat1(root: SnapshotRoot): void {
  const seen = new Set<object>();
  const swap = (v: unknown): unknown => {
    if (v instanceof Handle) return v.face;
    visit(v);
    return v;
  };
  const visit = (v: unknown): void => {
    if (v === null || (typeof v !== "object" && typeof v !== "function") || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Handle) {
      if (v.state !== "pending") v.value = swap(v.value);
      if (v.items) v.items = v.items.map(swap);
      if ("sleepValue" in v) v.sleepValue = swap(v.sleepValue);
    } else if (v instanceof Env) {
      for (const k of Object.keys(v.vars)) v.vars[k] = swap(v.vars[k]);
      visit(v.parent);
    } else if (v instanceof Fiber) {
      visit(v.env);
      visit(v.wait);
      visit(v.handle);
      if (v.resume) v.resume.v = swap(v.resume.v);
      for (const c of v.cs) if ("v" in c) c.v = swap(c.v);
    } else if (typeof v === "function") {
      visit(CLOSURES.get(v)?.env);
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = swap(v[i]);
    } else if (v instanceof Map) {
      for (const [k, x] of [...v]) {
        const key = swap(k);
        if (key !== k) v.delete(k);
        v.set(key, swap(x));
      }
    } else if (v instanceof Set) {
      for (const x of [...v]) {
        const y = swap(x);
        if (y !== x) {
          v.delete(x);
          v.add(y);
        }
      }
    } else if (!Object.isFrozen(v)) {
      for (const k of Object.keys(v)) (v as Record<string, unknown>)[k] = swap((v as Record<string, unknown>)[k]);
    }
  };
  for (const f of root.fibers) visit(f);
  for (const h of root.actions) visit(h);
  for (const h of root.timers) visit(h);
  if (root.mh) visit(root.mh);
}
