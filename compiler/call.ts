/**
 * Calls: of actions (which start an action call and evaluate to its handle), helper methods,
 * `sleep`, `Promise.all`/`allSettled`, `this.runAction`, whitelisted built-ins, and values (closures
 * and methods, checked by the interpreter); and `new` of the built-in classes.
 */
import type { CallExpression, Expression, ExprOrSpread, MemberExpression, NewExpression, Node, OptionalChainingExpression, Span } from "@swc/core";
import { CONSTRUCTORS, GLOBALS } from "../core/builtins.js";
import { callSiteText, closedChain, operandText, unwrapTs } from "./callsite.js";
import { awaitAfterShortCircuit, compileExpr, containsAwait, member, ordered } from "./expression.js";
import type { FnCompiler } from "./function.js";
import type { Arg, Expr, WorkflowLogLevel } from "../core/ir.js";
import { checkGlobalMember, checkRegistered, describeBinding, forbiddenGlobal, globalName } from "./names.js";
import { moduleBinding, namespaceMember, namespaceWorkflow } from "./resolve.js";
import { FORBIDDEN_GLOBALS, RULES } from "./rules.js";
import { compileHelper } from "./workflow.js";

type Located = Node & { span: Span };

function argList(fc: FnCompiler, args: ExprOrSpread[], prefix: Expr[] = []): { prefix: Expr[]; args: Arg[] } {
  const compiled = ordered(
    fc,
    args.map((a) => ({ node: a.expression, compile: () => compileExpr(fc, a.expression) })),
    prefix,
  );
  const head = compiled.slice(0, prefix.length);
  const rest = compiled.slice(prefix.length).map((e, i): Arg => (args[i]!.spread ? { spread: e, t: operandText(args[i]!.expression) } : e));
  return { prefix: head, args: rest };
}

function actionCall(fc: FnCompiler, node: Located, name: string, args: ExprOrSpread[], opts: Expression | null): Expr {
  checkRegistered(fc, node, name);
  const compiled = argList(fc, args).args;
  const o = opts ? compileExpr(fc, opts) : null;
  return { k: "act", name, args: compiled, opts: o, node: fc.nodeId("act", node) };
}

/** The action a callee names, if it names one. */
function calleeAction(fc: FnCompiler, callee: Expression): string | undefined {
  const c = unwrapTs(callee);
  if (c.type === "Identifier" && !fc.scope.resolve(c.value)) {
    const b = moduleBinding(fc.module, c.value);
    if (b?.kind === "action") return b.name;
  }
  if (c.type === "MemberExpression") {
    const obj = unwrapTs(c.object);
    if (obj.type === "Identifier" && !fc.scope.resolve(obj.value) && c.property.type === "Identifier") {
      const b = moduleBinding(fc.module, obj.value);
      if (b?.kind === "namespace") {
        const name = namespaceMember(b, c.property.value);
        if (name !== undefined) return name ?? c.property.value;
      }
    }
  }
  return undefined;
}

/** Array methods that run their callback at once and use its return value synchronously. */
const SYNC_CALLBACK_METHODS = new Set([
  "forEach",
  "filter",
  "find",
  "findIndex",
  "findLast",
  "findLastIndex",
  "some",
  "every",
  "reduce",
  "reduceRight",
  "sort",
  "toSorted",
]);

export function call(fc: FnCompiler, c: CallExpression, opt: boolean): Expr {
  const callee = c.callee.type === "Super" || c.callee.type === "Import" ? c.callee : unwrapTs(c.callee);
  if (callee.type === "Super") return fc.fail(c, RULES.superCall);
  if (callee.type === "Import") return fc.fail(c, RULES.dynamicImport);

  const action = calleeAction(fc, callee);
  if (action !== undefined) return actionCall(fc, c, action, c.arguments, null);

  if (callee.type === "Identifier" && !fc.scope.resolve(callee.value)) {
    const name = callee.value;
    const b = moduleBinding(fc.module, name);
    if (b?.kind === "waymark" && b.name === "sleep") return sleepCall(fc, c, false);
    if (b?.kind === "waymark" && WORLD_CALLS.has(b.name)) return worldCall(fc, c, b.name);
    if (b?.kind === "timers" && b.name === "setTimeout") return sleepCall(fc, c, true);
    if (b?.kind === "waymark" && b.name === "log") return fc.fail(c, RULES.logShape, `\`${name}(...)\``);
    if (b) return fc.fail(c, RULES.unknownCallee, describeBinding(name, b));
    forbiddenGlobal(fc, c, name);
    if (name === "Date") return fc.fail(c, RULES.newDateNow, "`Date()` returns the current time");
    if (!GLOBALS.has(name)) {
      if (name === "Promise") return fc.fail(c, RULES.promiseMethod);
      return fc.fail(c, RULES.unknownCallee, `\`${name}\``);
    }
    return { k: "call", f: { k: "global", path: name }, args: argList(fc, c.arguments).args };
  }

  if (callee.type === "MemberExpression") {
    const obj = unwrapTs(callee.object);
    const prop = callee.property.type === "Identifier" ? callee.property.value : undefined;
    if (obj.type === "NewExpression") {
      const wf = workflowClass(fc, obj);
      if (wf !== undefined) return childCall(fc, c, obj, wf, prop);
    }
    if (obj.type === "ThisExpression") {
      if (prop === "runAction") return runAction(fc, c);
      if (prop === undefined) return fc.fail(c, RULES.thisAccess);
      const f = compileHelper(fc.ctx, prop, c, fc.module);
      return { k: "helper", f, args: argList(fc, c.arguments).args };
    }
    if (obj.type === "Identifier" && obj.value === "Promise" && !fc.scope.resolve("Promise")) {
      if ((prop === "all" || prop === "allSettled") && c.arguments.length === 1 && !c.arguments[0]!.spread) {
        return { k: "all", e: compileExpr(fc, c.arguments[0]!.expression), settled: prop === "allSettled", node: fc.nodeId(prop, c) };
      }
      return fc.fail(c, RULES.promiseMethod);
    }
    if ((prop === "then" || prop === "catch" || prop === "finally") && obj.type === "CallExpression" && returnsPromise(fc, obj)) {
      return fc.fail(c, RULES.promiseChain, `\`.${prop}()\``);
    }
    const logged = logCall(fc, c, obj, prop);
    if (logged) return logged;
    const path = checkGlobalMember(fc, c, callee);
    if (path !== undefined) return { k: "call", f: { k: "global", path }, args: argList(fc, c.arguments).args };
    if (prop && SYNC_CALLBACK_METHODS.has(prop)) {
      for (const a of c.arguments) {
        const x = unwrapTs(a.expression);
        if (x.type === "ArrowFunctionExpression" && x.async) fc.fail(x, RULES.asyncCallback, `\`.${prop}(async ...)\``);
      }
    }
    // A method call on a value: the receiver is evaluated first, then the arguments.
    const f = member(fc, callee, false);
    const t = callSiteText(c.callee as Expression);
    if (f.k !== "get") return { k: "call", f, args: argList(fc, c.arguments).args, ...(opt ? { opt: true as const } : {}), t };
    const { prefix, args } = argList(fc, c.arguments, [f.o]);
    const target: Expr = { ...f, o: prefix[0]! };
    return opt ? { k: "call", f: target, args, opt: true, t } : { k: "call", f: target, args, t };
  }

  if (callee.type === "OptionalChainingExpression" && callee.base.type === "MemberExpression" && closedChain(c.callee as Expression)) {
    return closedMethodCall(fc, c, callee, opt);
  }

  const t = callSiteText(c.callee as Expression);
  const { prefix, args } = argList(fc, c.arguments, [compileExpr(fc, c.callee as Expression, true)]);
  return opt ? { k: "call", f: prefix[0]!, args, opt: true, t } : { k: "call", f: prefix[0]!, args, t };
}

/** Whether evaluating this receiver may short-circuit an optional chain it is part of (`a?.b` in `(a?.b.f)()`). */
function shortCircuits(e: Expr): boolean {
  if (e.k === "get") return e.opt === true || shortCircuits(e.o);
  if (e.k === "call") return e.opt === true || shortCircuits(e.f);
  return false;
}

/**
 * `(a?.f)(x)`: the parentheses end the chain, but the call still has `a` as its receiver. When
 * the chain short-circuits, the callee is undefined: the arguments are evaluated and the call
 * throws "(intermediate value) is not a function", as natively.
 */
function closedMethodCall(fc: FnCompiler, c: CallExpression, chain: OptionalChainingExpression, opt: boolean): Expr {
  if (awaitAfterShortCircuit(chain)) return fc.fail(chain, RULES.unsupportedSyntax, "`await` after `?.`: await the value into a variable first");
  const f = member(fc, chain.base as MemberExpression, (chain as { optional?: boolean }).optional === true);
  const t = callSiteText(c.callee as Expression);
  if (f.k !== "get") return { k: "call", f, args: argList(fc, c.arguments).args, ...(opt ? { opt: true as const } : {}), t };
  // An await in the arguments would have to run after the receiver was evaluated, and so outside the chain.
  if (shortCircuits(f.o) && containsAwait(c.arguments)) return fc.fail(c, RULES.unsupportedSyntax, "`await` after `?.`: await the value into a variable first");
  const { prefix, args } = argList(fc, c.arguments, [f.o]);
  const target: Expr = { ...f, o: prefix[0]! };
  return opt ? { k: "call", f: target, args, opt: true, cc: true, t } : { k: "call", f: target, args, cc: true, t };
}

/** Whether a call is one the compiler knows returns a workflow promise (an action, a helper, Promise.all). */
function returnsPromise(fc: FnCompiler, c: CallExpression): boolean {
  if (c.callee.type === "Super" || c.callee.type === "Import") return false;
  const callee = unwrapTs(c.callee);
  if (calleeAction(fc, callee) !== undefined) return true;
  if (callee.type !== "MemberExpression") return false;
  const obj = unwrapTs(callee.object);
  return obj.type === "ThisExpression" || (obj.type === "Identifier" && obj.value === "Promise" && !fc.scope.resolve("Promise"));
}

/** The console methods a workflow may call, and the level of the record each makes. */
const CONSOLE_LEVELS = new Map<string, WorkflowLogLevel>([
  ["log", "info"],
  ["info", "info"],
  ["warn", "warn"],
  ["error", "error"],
  ["debug", "debug"],
]);

/**
 * `console.log(...)` and its levels, or `log.info(...)` with `log` from "waymark": a log record
 * (the arguments are evaluated as a call's are). Any other member of either is refused, naming
 * the ones a workflow may call. Undefined for any other call.
 */
function logCall(fc: FnCompiler, c: CallExpression, obj: Expression, prop: string | undefined): Expr | undefined {
  if (obj.type !== "Identifier") return undefined;
  const b = fc.scope.resolve(obj.value) ? undefined : moduleBinding(fc.module, obj.value);
  const isConsole = globalName(fc, obj) === "console";
  const isLog = b?.kind === "waymark" && b.name === "log";
  if (!isConsole && !isLog) return undefined;
  const level = prop === undefined ? undefined : CONSOLE_LEVELS.get(prop);
  if (level === undefined) {
    const what = `\`${obj.value}.${prop ?? "[...]"}\``;
    return isConsole ? fc.fail(c, FORBIDDEN_CONSOLE, what) : fc.fail(c, RULES.logShape, what);
  }
  return { k: "print", level, args: argList(fc, c.arguments).args, at: fc.pos(c), node: fc.nodeId("log", c) };
}

/** The rule that refuses the rest of `console`. */
const FORBIDDEN_CONSOLE = FORBIDDEN_GLOBALS.find((f) => f.match.test("console"))!.rule;

/** The calls of the events API, by their export name, and the arguments each takes. */
const WORLD_CALLS = new Map<string, [min: number, max: number]>([
  ["waitForEvent", [1, 2]],
  ["publish", [2, 2]],
  ["sendEvent", [3, 4]],
  ["getInstance", [0, Infinity]],
]);

function worldCall(fc: FnCompiler, c: CallExpression, name: string): Expr {
  if (name === "getInstance") return fc.fail(c, RULES.handleInWorkflow);
  const [min, max] = WORLD_CALLS.get(name)!;
  if (c.arguments.length < min || c.arguments.length > max || c.arguments.some((a) => a.spread)) {
    return fc.fail(c, RULES.eventShape, `\`${name}\` takes ${min === max ? min : `${min} to ${max}`} arguments`);
  }
  const args = ordered(
    fc,
    c.arguments.map((a) => ({ node: a.expression, compile: () => compileExpr(fc, a.expression) })),
  );
  if (name === "waitForEvent") return { k: "wait", name: args[0]!, opts: args[1] ?? null, node: fc.nodeId("wait", c) };
  if (name === "publish") return { k: "publish", key: args[0]!, v: args[1]!, node: fc.nodeId("publish", c) };
  return { k: "send", args, node: fc.nodeId("send", c) };
}

/** The registered name of the workflow class `new X()` makes, if X is one. */
function workflowClass(fc: FnCompiler, n: NewExpression): string | undefined {
  const callee = unwrapTs(n.callee);
  if (callee.type === "Identifier" && !fc.scope.resolve(callee.value)) {
    const b = moduleBinding(fc.module, callee.value);
    return b?.kind === "workflow" ? b.name : undefined;
  }
  if (callee.type === "MemberExpression") {
    const obj = unwrapTs(callee.object);
    if (obj.type === "Identifier" && !fc.scope.resolve(obj.value) && callee.property.type === "Identifier") {
      const b = moduleBinding(fc.module, obj.value);
      if (b?.kind === "namespace") return namespaceWorkflow(b, callee.property.value);
    }
  }
  return undefined;
}

/** `new Child().run(...args)` (waited for) or `new Child().start(args?, options?)` (detached). */
function childCall(fc: FnCompiler, c: CallExpression, made: NewExpression, wf: string, method: string | undefined): Expr {
  if ((made.arguments ?? []).length > 0) return fc.fail(made, RULES.childShape, "a workflow class takes no constructor arguments");
  if (method === "run") {
    fc.ctx.children.add(wf);
    return { k: "child", wf, args: argList(fc, c.arguments).args, opts: null, detached: false, node: fc.nodeId("child", c) };
  }
  if (method !== "start") return fc.fail(c, RULES.childShape, `\`.${method ?? "[...]"}()\` of a workflow instance`);
  if (c.arguments.length > 2 || c.arguments.some((a) => a.spread))
    return fc.fail(c, RULES.childShape, "`start` takes an array of arguments and an options object");
  fc.ctx.children.add(wf);
  const [list, opts] = ordered(
    fc,
    c.arguments.map((a) => ({ node: a.expression, compile: () => compileExpr(fc, a.expression) })),
  );
  return { k: "child", wf, args: list ? [list] : [], opts: opts ?? null, detached: true, node: fc.nodeId("child", c) };
}

function sleepCall(fc: FnCompiler, c: CallExpression, timers: boolean): Expr {
  if (c.arguments.length < 1 || c.arguments.length > (timers ? 2 : 1) || c.arguments.some((a) => a.spread)) fc.fail(c, RULES.sleepShape);
  const [ms, v] = ordered(
    fc,
    c.arguments.map((a) => ({ node: a.expression, compile: () => compileExpr(fc, a.expression) })),
  );
  return { k: "sleep", ms: ms!, v: v ?? null, node: fc.nodeId("sleep", c) };
}

function runAction(fc: FnCompiler, c: CallExpression): Expr {
  const [first, opts, ...extra] = c.arguments;
  if (!first || first.spread || extra.length || opts?.spread) return fc.fail(c, RULES.runActionShape);
  const inner = unwrapTs(first.expression);
  if (inner.type !== "CallExpression") return fc.fail(c, RULES.runActionShape, "the first argument must be an action call");
  const name = calleeAction(fc, inner.callee as Expression);
  if (name === undefined) return fc.fail(inner, RULES.runActionShape, "the first argument must call an action");
  return actionCall(fc, inner, name, inner.arguments, opts ? opts.expression : null);
}

export function newExpr(fc: FnCompiler, n: NewExpression): Expr {
  const callee = unwrapTs(n.callee);
  const args = n.arguments ?? [];
  if (callee.type === "Identifier" && !fc.scope.resolve(callee.value)) {
    const b = moduleBinding(fc.module, callee.value);
    // Retry and backoff policies are data: `new RetryPolicy({...})` is its options object.
    if (b?.kind === "waymark" && (b.name === "RetryPolicy" || b.name === "BackoffPolicy")) {
      if (args.length !== 1 || args[0]!.spread) return fc.fail(n, RULES.runActionShape, `${b.name} takes one options object`);
      return { k: "call", f: { k: "global", path: `#${b.name}` }, args: [compileExpr(fc, args[0]!.expression)] };
    }
    if (b?.kind === "workflow") return fc.fail(n, RULES.childShape, `\`new ${callee.value}()\` on its own`);
    if (b) return fc.fail(n, RULES.classInWorkflow, `\`new ${callee.value}\`: instances of classes would not survive a restart`);
    if (callee.value === "Date" && args.length === 0) return fc.fail(n, RULES.newDateNow);
    forbiddenGlobal(fc, n, callee.value);
    if (CONSTRUCTORS.has(callee.value)) return { k: "new", c: callee.value, args: argList(fc, args).args };
  }
  return fc.fail(n, RULES.classInWorkflow, "only built-in classes such as Error, Map, Set and Date can be constructed");
}
