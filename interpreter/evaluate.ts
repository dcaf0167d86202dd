/**
 * Expression evaluation with JavaScript's own operators, so the semantics are the native ones.
 * The only functions a workflow can call are its closures, its actions, its helpers and the
 * whitelisted built-ins; method calls on values are checked against the per-type whitelist.
 */
import { accessorOnChain, BUILT_IN_PATHS, FORBIDDEN_PROPERTIES, GLOBALS, isBuiltIn, methodAllowed } from "../core/builtins.js";
import type { Arg, AssignOp, Expr, Pat, Pos, WorkflowLogLevel } from "../core/ir.js";
import { decode, type Encoded } from "../core/codec.js";
import { checkArrayLength, checkBigInt, checkNativeCall, sized, tooMany } from "../core/limits.js";
import { backoffOptions, retryOptions } from "../core/policy.js";
import { bind, isIterable, iterate } from "./bind.js";
import { MAX_ARRAY_LENGTH } from "../core/limits.js";
import { isOpaque } from "../core/builtins.js";
import { ACTION_REFS, CLOSURES, type Env, IteratorFace, ITERATOR_SOURCES, PromiseFace, StoredIter } from "./values.js";

export interface Runtime {
  /** Gives an error made by the workflow (`new Error(...)`) the stack of the workflow's code. */
  located(e: Error): void;
  closure(fn: number, env: Env): (...args: unknown[]) => unknown;
  actionRef(name: string, node: string): (...args: unknown[]) => unknown;
  startAction(name: string, node: string, args: unknown[], opts: unknown): PromiseFace;
  sleep(ms: unknown, value: unknown, node: string): PromiseFace;
  join(items: unknown, settled: boolean, node: string): PromiseFace;
  callHelper(fn: number, args: unknown[]): unknown;
  waitForEvent(name: unknown, opts: unknown, node: string): PromiseFace;
  publish(key: unknown, value: unknown, node: string): PromiseFace;
  sendEvent(args: unknown[], node: string): PromiseFace;
  startChild(workflow: string, args: unknown[], opts: unknown, detached: boolean, node: string): PromiseFace;
  /** A log record (`console.log(...)` in the workflow), with its arguments evaluated. */
  print(level: WorkflowLogLevel, args: unknown[], at: Pos, node: string): void;
}

/** An array index past the length cap (`a[1e9] = 1` grows the array to it). */
const MAX_INDEX = MAX_ARRAY_LENGTH;

/** Optional chaining short-circuit, caught at the chain's boundary. */
class Short {}
const SHORT = new Short();

const INTERNAL: ReadonlyMap<string, (...args: unknown[]) => unknown> = new Map<string, (...args: unknown[]) => unknown>([
  [
    "#forInKeys",
    (v: unknown) => {
      const out: string[] = [];
      if (v === null || v === undefined) return out;
      for (const k in Object(v)) out.push(k);
      return out;
    },
  ],
  ["#RetryPolicy", (o: unknown) => retryOptions(o)],
  ["#BackoffPolicy", (o: unknown) => backoffOptions(o)],
]);

/** Built-in functions a workflow may call through a variable (`const f = Number; f(x)`). */
const CALLABLE = new Set<unknown>([...GLOBALS.values()].filter((v) => typeof v === "function" && v !== Date));

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Map) return "a Map";
  if (v instanceof Set) return "a Set";
  if (v instanceof Date) return "a Date";
  if (PromiseFace.handleOf(v)) return "a promise";
  if (IteratorFace.inner(v)) return "an iterator";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** A computed key as JavaScript converts it (ToPropertyKey). Which keys may be used is up to getProp and setProp. */
export function checkKey(key: unknown): PropertyKey {
  return typeof key === "symbol" ? key : String(key);
}

function unavailable(key: PropertyKey): TypeError {
  return new TypeError(`property "${String(key)}" is not available in workflows`);
}

function isCallableValue(f: unknown): f is (...args: unknown[]) => unknown {
  return typeof f === "function" && (CLOSURES.has(f) || ACTION_REFS.has(f) || CALLABLE.has(f));
}

export function lookup(env: Env, _name: string, up: number | undefined): Env {
  let e = env;
  for (let i = up ?? 0; i > 0; i--) e = e.parent!;
  return e;
}

/**
 * Reads a variable. A `let`/`const` read before its declaration ran has no slot yet: that is
 * JavaScript's temporal dead zone (slots are renamed `x$1` when they shadow; the message uses the
 * source name).
 */
function readVar(scope: Env, slot: string): unknown {
  const v = scope.vars[slot];
  if (v === undefined && !(slot in scope.vars)) throw new ReferenceError(`Cannot access '${slot.replace(/\$\d+$/, "")}' before initialization`);
  return v;
}

function args(rt: Runtime, env: Env, list: Arg[]): unknown[] {
  const out: unknown[] = [];
  for (const a of list) {
    if ("spread" in a) {
      const v = evaluate(rt, a.spread, env);
      if (!isIterable(v)) {
        throw new TypeError(
          v === null || v === undefined
            ? `${a.t ?? String(v)} is not iterable (cannot read property ${String(v)})`
            : "Spread syntax requires ...iterable[Symbol.iterator] to be a function",
        );
      }
      out.push(...v);
    } else out.push(evaluate(rt, a, env));
  }
  return out;
}

/**
 * `obj[key]`, as natively, except what leads out of the sandbox:
 * - a built-in held as a value (`const N = Number`) shows only what its dotted form may use
 *   (`N.isInteger`, not `D.now` for `D = Date`), and its name and length;
 * - a forbidden name (`constructor`, `__proto__`, `prototype`, `caller`, ...) is read only as an
 *   own data property of the workflow's own object: when no object on the prototype chain has it,
 *   the read is undefined, as natively; when a built-in provides it, the read is refused.
 */
export function getProp(obj: unknown, key: PropertyKey): unknown {
  if (PromiseFace.handleOf(obj)) throw new TypeError("a workflow promise has no properties: await it first");
  if (obj === null || obj === undefined) return (obj as unknown as Record<PropertyKey, unknown>)[key]; // V8's TypeError
  if (isBuiltIn(obj)) {
    if (typeof obj === "function" && (key === "name" || key === "length")) return (obj as unknown as Record<PropertyKey, unknown>)[key];
    const path = BUILT_IN_PATHS.get(obj);
    const member = path !== undefined && typeof key === "string" ? `${path}.${key}` : undefined;
    if (member !== undefined && GLOBALS.has(member)) return GLOBALS.get(member);
    throw new TypeError(`${member ?? `property "${String(key)}" of a built-in`} is not available in workflows`);
  }
  if (typeof key === "string" && FORBIDDEN_PROPERTIES.has(key)) {
    const self = Object(obj) as object;
    for (let o: object | null = self; o !== null; o = Object.getPrototypeOf(o) as object | null) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (!d) continue;
      if (o === self && "value" in d) return d.value;
      throw unavailable(key);
    }
    return undefined;
  }
  return (obj as Record<PropertyKey, unknown>)[key];
}

/**
 * `obj[key] = value`, as natively, except that built-ins are never changed, and a forbidden name
 * is written only where no setter would run (`__proto__` would change the prototype).
 */
export function setProp(obj: unknown, key: PropertyKey, value: unknown): void {
  if (isOpaque(obj)) throw new TypeError(`${describe(obj)} cannot be changed in a workflow`);
  if (obj !== null && obj !== undefined) {
    if (isBuiltIn(obj)) throw new TypeError(`${BUILT_IN_PATHS.get(obj) ?? "a built-in"} cannot be changed in a workflow`);
    if (typeof key === "string" && FORBIDDEN_PROPERTIES.has(key) && (typeof obj === "function" || accessorOnChain(obj, key))) throw unavailable(key);
    if (Array.isArray(obj)) {
      if (key === "length") checkArrayLength(Number(value));
      else if (typeof key === "string" && key.length >= 7 && /^[1-9]\d*$/.test(key) && Number(key) >= MAX_INDEX) throw tooMany(Number(key) + 1);
    }
  }
  (obj as Record<PropertyKey, unknown>)[key] = value; // V8's TypeError for null, undefined and frozen objects
}

/** `delete obj[key]`: built-ins are never changed. */
function deleteProp(obj: unknown, key: PropertyKey): boolean {
  if (isOpaque(obj)) throw new TypeError(`${describe(obj)} cannot be changed in a workflow`);
  if (obj !== null && obj !== undefined && isBuiltIn(obj)) throw new TypeError(`${BUILT_IN_PATHS.get(obj) ?? "a built-in"} cannot be changed in a workflow`);
  return delete (obj as Record<PropertyKey, unknown>)[key];
}

/**
 * Arguments handed to a native function (a built-in or a value's method), which may call them:
 * only the workflow's closures and actions and the whitelisted built-ins may be called, so a
 * built-in method held as a value (`list.push`) cannot be passed as a callback, where it would
 * run with a `this` of the workflow's choosing.
 */
function nativeArgs(list: unknown[]): unknown[] {
  for (const a of list) {
    if (typeof a === "function" && isBuiltIn(a) && !CALLABLE.has(a)) {
      throw new TypeError("a built-in method cannot be passed as a callback in a workflow: wrap it in an arrow function");
    }
  }
  return list;
}

function callValue(rt: Runtime, env: Env, e: Extract<Expr, { k: "call" }>): unknown {
  const f = e.f;
  if (f.k === "get") {
    let receiver: unknown;
    let key: PropertyKey;
    let method: unknown;
    try {
      receiver = evaluate(rt, f.o, env);
      if (f.opt && (receiver === null || receiver === undefined)) throw SHORT;
      key = typeof f.p === "string" ? f.p : checkKey(evaluate(rt, f.p, env));
      method = getProp(receiver, key);
    } catch (x) {
      // `(a?.f)()`: the parentheses end the chain, so when it short-circuits the callee is undefined.
      if (x !== SHORT || !e.cc || e.opt) throw x;
      args(rt, env, e.args);
      throw new TypeError(`${e.t ?? "(intermediate value)"} is not a function`);
    }
    if (e.opt && (method === null || method === undefined)) throw SHORT;
    // A closure, an action or a whitelisted built-in held in a property (`{ f: Math.max }.f(1, 2)`).
    if (isCallableValue(method))
      return CALLABLE.has(method) ? callBuiltIn(method, receiver, nativeArgs(args(rt, env, e.args))) : method(...args(rt, env, e.args));
    if (typeof method !== "function") {
      // Natively the arguments are evaluated before the callee is found not to be a function.
      args(rt, env, e.args);
      throw new TypeError(`${e.t ?? `${describe(receiver)}.${String(key)}`} is not a function`);
    }
    if (!methodAllowed(receiver, key)) {
      throw new TypeError(`${describe(receiver)}.${String(key)}() is not available in workflows: use it in an action`);
    }
    // Iterators are state a workflow may hold across an await: keep them in a storable form.
    if (
      typeof key === "string" &&
      ITERATOR_SOURCES.has(key) &&
      (Array.isArray(receiver) || receiver instanceof Map || receiver instanceof Set || typeof receiver === "string")
    ) {
      return new IteratorFace(StoredIter.over(receiver, key, nativeArgs(args(rt, env, e.args))));
    }
    const list = nativeArgs(args(rt, env, e.args));
    checkNativeCall(receiver, key as string, list);
    return sized((method as (...a: unknown[]) => unknown).apply(receiver, list));
  }
  if (f.k === "global") {
    const fn = INTERNAL.get(f.path) ?? GLOBALS.get(f.path);
    if (typeof fn !== "function") throw new TypeError(`${f.path} is not a function`);
    return callBuiltIn(fn as (...a: unknown[]) => unknown, undefined, nativeArgs(args(rt, env, e.args)));
  }
  const fn = evaluate(rt, f, env);
  if (e.opt && (fn === null || fn === undefined)) throw SHORT;
  if (!isCallableValue(fn)) {
    if (typeof fn === "function") throw new TypeError("this function cannot be called in a workflow: call it in an action");
    args(rt, env, e.args);
    throw new TypeError(`${e.t ?? describe(fn)} is not a function`);
  }
  return CALLABLE.has(fn) ? callBuiltIn(fn, undefined, nativeArgs(args(rt, env, e.args))) : fn(...args(rt, env, e.args));
}

/** A whitelisted built-in function, with the allocation caps: `Array(n)` and `Array.from({ length: n })` are checked first, strings and arrays it returns after. */
function callBuiltIn(fn: (...a: unknown[]) => unknown, receiver: unknown, list: unknown[]): unknown {
  if (fn === Array && list.length === 1) checkArrayLength(list[0]);
  else if (fn === Array.from && typeof list[0] === "object" && list[0] !== null && !isIterable(list[0]))
    checkArrayLength((list[0] as { length?: unknown }).length);
  return sized(fn.apply(receiver, list));
}

// biome-ignore lint/suspicious/noExplicitAny: JavaScript's own operators applied to whatever the workflow holds are the point
function binary(op: string, l: any, r: any): unknown {
  if (typeof l === "bigint" && typeof r === "bigint") checkBigInt(op, l, r);
  switch (op) {
    case "+": {
      const v = l + r;
      return typeof v === "string" ? sized(v) : v;
    }
    case "-":
      return l - r;
    case "*":
      return l * r;
    case "/":
      return l / r;
    case "%":
      return l % r;
    case "**":
      return l ** r;
    case "==":
      // biome-ignore lint/suspicious/noDoubleEquals: the workflow wrote ==, and gets JavaScript's ==
      return l == r;
    case "!=":
      // biome-ignore lint/suspicious/noDoubleEquals: the workflow wrote !=, and gets JavaScript's !=
      return l != r;
    case "===":
      return l === r;
    case "!==":
      return l !== r;
    case "<":
      return l < r;
    case "<=":
      return l <= r;
    case ">":
      return l > r;
    case ">=":
      return l >= r;
    case "&":
      return l & r;
    case "|":
      return l | r;
    case "^":
      return l ^ r;
    case "<<":
      return l << r;
    case ">>":
      return l >> r;
    case ">>>":
      return l >>> r;
    case "in":
      return l in r;
    case "instanceof":
      return l instanceof r;
    default:
      throw new TypeError(`unknown operator ${op}`);
  }
}

/** For compound assignment to a member: evaluate the object and key once. */
function target(rt: Runtime, env: Env, t: Pat): { get(): unknown; set(v: unknown): void } {
  if (t.k === "id") {
    const scope = lookup(env, t.n, t.up);
    return { get: () => readVar(scope, t.n), set: (v) => void (scope.vars[t.n] = v) };
  }
  if (t.k === "mem") {
    const o = evaluate(rt, t.o, env);
    const key = typeof t.p === "string" ? t.p : checkKey(evaluate(rt, t.p, env));
    return { get: () => getProp(o, key), set: (v) => setProp(o, key, v) };
  }
  throw new TypeError("invalid assignment target");
}

function assign(rt: Runtime, env: Env, e: Extract<Expr, { k: "assign" }>): unknown {
  if (e.op === "=") {
    if (e.t.k === "mem") {
      const o = evaluate(rt, e.t.o, env);
      const key = typeof e.t.p === "string" ? e.t.p : checkKey(evaluate(rt, e.t.p, env));
      const v = evaluate(rt, e.e, env);
      setProp(o, key, v);
      return v;
    }
    const v = evaluate(rt, e.e, env);
    bind(rt, e.t, v, env);
    return v;
  }
  const t = target(rt, env, e.t);
  const op = e.op as AssignOp;
  if (op === "&&=" || op === "||=" || op === "??=") {
    const cur = t.get();
    if (op === "&&=" ? !cur : op === "||=" ? cur : cur !== null && cur !== undefined) return cur;
    const v = evaluate(rt, e.e, env);
    t.set(v);
    return v;
  }
  const v = binary(op.slice(0, -1), t.get(), evaluate(rt, e.e, env));
  t.set(v);
  return v;
}

export function evaluate(rt: Runtime, e: Expr, env: Env): unknown {
  switch (e.k) {
    case "lit":
      return typeof e.v === "object" && e.v !== null ? decode(e.v as Encoded) : e.v;
    case "var":
      return readVar(lookup(env, e.n, e.up), e.n);
    case "re":
      return new RegExp(e.p, e.f);
    case "tpl": {
      let s = e.q[0]!;
      for (let i = 0; i < e.e.length; i++) s = sized(s + `${evaluate(rt, e.e[i]!, env) as string}` + e.q[i + 1]!);
      return s;
    }
    case "arr": {
      const out: unknown[] = [];
      for (const item of e.items) {
        if (item === null) out.length += 1;
        else if ("spread" in item) {
          // One push per item: `push(...items)` passes each as an argument, and overflows the stack for long arrays.
          const items = iterate(evaluate(rt, item.spread, env), item.t);
          if (out.length + items.length > MAX_ARRAY_LENGTH) throw tooMany(out.length + items.length);
          for (let i = 0; i < items.length; i++) out.push(items[i]);
        } else out.push(evaluate(rt, item, env));
      }
      return sized(out);
    }
    case "obj": {
      const out: Record<PropertyKey, unknown> = {};
      for (const p of e.props) {
        if ("spread" in p) {
          const src = evaluate(rt, p.spread, env);
          if (src === null || src === undefined) continue;
          const from = Object(src) as Record<string, unknown>;
          for (const k of Object.keys(from)) Object.defineProperty(out, k, { value: from[k], writable: true, enumerable: true, configurable: true });
        } else if ("ck" in p) {
          const key = checkKey(evaluate(rt, p.ck, env));
          Object.defineProperty(out, key, { value: evaluate(rt, p.v, env), writable: true, enumerable: true, configurable: true });
        } else if (p.key === "__proto__") {
          // Only the shorthand `{ __proto__ }` gets here (the compiler refuses `__proto__: x`): an own property, as natively.
          Object.defineProperty(out, p.key, { value: evaluate(rt, p.v, env), writable: true, enumerable: true, configurable: true });
        } else out[p.key] = evaluate(rt, p.v, env);
      }
      return out;
    }
    case "get": {
      const o = evaluate(rt, e.o, env);
      if (e.opt && (o === null || o === undefined)) throw SHORT;
      const key = typeof e.p === "string" ? e.p : checkKey(evaluate(rt, e.p, env));
      return getProp(o, key);
    }
    case "chain":
      try {
        return evaluate(rt, e.e, env);
      } catch (x) {
        if (x === SHORT) return undefined;
        throw x;
      }
    case "call":
      return callValue(rt, env, e);
    case "bin":
      return binary(e.op, evaluate(rt, e.l, env), evaluate(rt, e.r, env));
    case "log": {
      const l = evaluate(rt, e.l, env);
      if (e.op === "&&") return l ? evaluate(rt, e.r, env) : l;
      if (e.op === "||") return l ? l : evaluate(rt, e.r, env);
      return l === null || l === undefined ? evaluate(rt, e.r, env) : l;
    }
    case "un": {
      const v = evaluate(rt, e.e, env);
      switch (e.op) {
        case "-":
          return -(v as number);
        case "+":
          return +(v as number);
        case "!":
          return !v;
        case "~":
          return ~(v as number);
        case "typeof":
          return typeof v;
        case "void":
          return undefined;
      }
      throw new TypeError(`unknown operator ${String((e as { op: string }).op)}`);
    }
    case "del": {
      const t = e.t as Extract<Expr, { k: "get" }>;
      const o = evaluate(rt, t.o, env);
      const key = typeof t.p === "string" ? t.p : checkKey(evaluate(rt, t.p, env));
      return deleteProp(o, key);
    }
    case "cond":
      return evaluate(rt, e.t, env) ? evaluate(rt, e.c, env) : evaluate(rt, e.a, env);
    case "assign":
      return assign(rt, env, e);
    case "upd": {
      const t = target(rt, env, e.t);
      const old = t.get();
      const num = typeof old === "bigint" ? old : Number(old);
      const next = typeof num === "bigint" ? (e.op === "++" ? num + 1n : num - 1n) : e.op === "++" ? num + 1 : num - 1;
      t.set(next);
      return e.prefix ? next : num;
    }
    case "seq": {
      let v: unknown;
      for (const x of e.es) v = evaluate(rt, x, env);
      return v;
    }
    case "fn":
      return rt.closure(e.f, env);
    case "global": {
      if (!GLOBALS.has(e.path)) throw new TypeError(`${e.path} is not available in workflows`);
      return GLOBALS.get(e.path);
    }
    case "new": {
      const C = GLOBALS.get(e.c) as new (...a: unknown[]) => unknown;
      const list = args(rt, env, e.args);
      if (C === Date && list.length === 0) throw new TypeError("new Date() without arguments is not deterministic");
      if (C === Array && list.length === 1) checkArrayLength(list[0]);
      const made = sized(new C(...list));
      if (made instanceof Error) rt.located(made);
      return made;
    }
    case "act":
      return rt.startAction(e.name, e.node, args(rt, env, e.args), e.opts ? evaluate(rt, e.opts, env) : undefined);
    case "actref":
      return rt.actionRef(e.name, e.node);
    case "sleep":
      return rt.sleep(evaluate(rt, e.ms, env), e.v ? evaluate(rt, e.v, env) : undefined, e.node);
    case "all":
      return rt.join(evaluate(rt, e.e, env), e.settled, e.node);
    case "helper":
      return rt.callHelper(e.f, args(rt, env, e.args));
    case "wait":
      return rt.waitForEvent(evaluate(rt, e.name, env), e.opts ? evaluate(rt, e.opts, env) : undefined, e.node);
    case "publish": {
      const key = evaluate(rt, e.key, env);
      return rt.publish(key, evaluate(rt, e.v, env), e.node);
    }
    case "send":
      return rt.sendEvent(args(rt, env, e.args), e.node);
    case "child": {
      const list = args(rt, env, e.args);
      return rt.startChild(e.wf, list, e.opts ? evaluate(rt, e.opts, env) : undefined, e.detached, e.node);
    }
    case "print":
      rt.print(e.level, args(rt, env, e.args), e.at, e.node);
      return undefined;
  }
}
