import type {
  Statement,
  ArrowFunctionExpression, CallExpression, Expression, ExprOrSpread, MemberExpression, NewExpression, Node, Pattern,
  Span, TemplateLiteral,
} from "@swc/core";
import { FORBIDDEN_PROPERTIES, GLOBALS, GLOBAL_ROOTS, CONSTRUCTORS } from "./builtins.js";
import { callSiteText } from "./callsite.js";
import { FnCompiler, labelPattern } from "./function.js";
import type { Arg, AssignOp, BinOp, Expr, Pat } from "./ir.js";
import { compilePattern, propertyKey } from "./pattern.js";
import { moduleBinding, namespaceMember, type ModuleBinding } from "./resolve.js";
import { FORBIDDEN_GLOBALS, RULES } from "./rules.js";
import { compileHelper } from "./workflow.js";

type Located = Node & { span: Span };

const TS_WRAPPERS = new Set(["TsAsExpression", "TsSatisfiesExpression", "TsNonNullExpression", "ParenthesisExpression", "TsTypeAssertion", "TsConstAssertion", "TsInstantiation"]);

export function unwrapTs(e: Expression): Expression {
  let cur = e;
  while (TS_WRAPPERS.has(cur.type)) cur = (cur as { expression: Expression }).expression;
  return cur;
}

const awaitCache = new WeakMap<object, boolean>();

/** Whether evaluating this node awaits (nested functions do not count: they await on their own). */
export function containsAwait(node: unknown): boolean {
  if (!node || typeof node !== "object") return false;
  const cached = awaitCache.get(node);
  if (cached !== undefined) return cached;
  let found = false;
  if (Array.isArray(node)) found = node.some(containsAwait);
  else {
    const t = (node as { type?: string }).type;
    if (t === "AwaitExpression") found = true;
    else if (t === "ArrowFunctionExpression" || t === "FunctionExpression" || t === "ClassExpression") found = false;
    else {
      for (const [k, v] of Object.entries(node)) {
        if (k !== "span" && v && typeof v === "object" && containsAwait(v)) {
          found = true;
          break;
        }
      }
    }
  }
  awaitCache.set(node, found);
  return found;
}

/** Whether an expression must be stored in a temporary to keep its value across an await. */
export function spillable(e: Expr): boolean {
  return !(e.k === "lit" || e.k === "global" || e.k === "fn" || e.k === "actref" || (e.k === "var" && e.n.startsWith("#")));
}

/**
 * Compiles parts left to right, keeping JavaScript's evaluation order when a later part awaits:
 * every part already evaluated is stored in a temporary before the await runs.
 */
function ordered(fc: FnCompiler, parts: Array<{ node: unknown; compile: () => Expr }>, prefix: Expr[] = []): Expr[] {
  const out = [...prefix];
  for (const part of parts) {
    if (containsAwait(part.node)) for (let i = 0; i < out.length; i++) out[i] = fc.spill(out[i]!, [0, 0]);
    out.push(part.compile());
  }
  return out;
}

function argList(fc: FnCompiler, args: ExprOrSpread[], prefix: Expr[] = []): { prefix: Expr[]; args: Arg[] } {
  const compiled = ordered(
    fc,
    args.map((a) => ({ node: a.expression, compile: () => compileExpr(fc, a.expression) })),
    prefix,
  );
  const head = compiled.slice(0, prefix.length);
  const rest = compiled.slice(prefix.length).map((e, i): Arg => (args[i]!.spread ? { spread: e, t: callSiteText(args[i]!.expression) } : e));
  return { prefix: head, args: rest };
}

const UNDEFINED: Expr = { k: "lit", v: { $w: "u" } };

function literalNumber(n: number): Expr {
  return Number.isFinite(n) ? { k: "lit", v: n } : { k: "lit", v: { $w: "num", v: String(n) } };
}

/** A module-level `const` with a literal initialiser, inlined as a value. */
function staticValue(fc: FnCompiler, e: Expression | undefined, depth = 0): Expr | undefined {
  if (!e || depth > 20) return undefined;
  const x = unwrapTs(e);
  switch (x.type) {
    case "StringLiteral":
    case "BooleanLiteral":
      return { k: "lit", v: x.value };
    case "NumericLiteral":
      return literalNumber(x.value);
    case "NullLiteral":
      return { k: "lit", v: null };
    case "TemplateLiteral":
      return x.expressions.length === 0 ? { k: "lit", v: x.quasis.map((q) => q.cooked ?? "").join("") } : undefined;
    case "UnaryExpression": {
      const inner = staticValue(fc, x.argument, depth + 1);
      return inner && (x.operator === "-" || x.operator === "+") ? { k: "un", op: x.operator, e: inner } : undefined;
    }
    case "ArrayExpression": {
      const items: Expr[] = [];
      for (const el of x.elements) {
        if (!el || el.spread) return undefined;
        const v = staticValue(fc, el.expression, depth + 1);
        if (!v) return undefined;
        items.push(v);
      }
      return { k: "arr", items };
    }
    case "NewExpression": {
      // A module-level `new RetryPolicy({...})` or `new BackoffPolicy({...})`: policies are data.
      const b = x.callee.type === "Identifier" ? moduleBinding(fc.module, x.callee.value) : undefined;
      const arg = x.arguments?.length === 1 ? staticValue(fc, x.arguments[0]!.expression, depth + 1) : undefined;
      if (b?.kind === "waymark" && (b.name === "RetryPolicy" || b.name === "BackoffPolicy") && arg) {
        return { k: "call", f: { k: "global", path: `#${b.name}` }, args: [arg] };
      }
      return undefined;
    }
    case "ObjectExpression": {
      const props: Array<{ key: string; v: Expr }> = [];
      for (const p of x.properties) {
        if (p.type !== "KeyValueProperty" || p.key.type === "Computed") return undefined;
        const key = p.key.type === "Identifier" || p.key.type === "StringLiteral" ? p.key.value : p.key.type === "NumericLiteral" ? String(p.key.value) : undefined;
        const v = staticValue(fc, p.value, depth + 1);
        if (key === undefined || !v) return undefined;
        props.push({ key, v });
      }
      return { k: "obj", props };
    }
    default:
      return undefined;
  }
}

function forbiddenGlobal(fc: FnCompiler, node: Located, path: string): void {
  for (const f of FORBIDDEN_GLOBALS) if (f.match.test(path)) fc.fail(node, f.rule);
}

function checkRegistered(fc: FnCompiler, node: Located, name: string): void {
  if (!fc.ctx.lookup.has(name)) fc.fail(node, RULES.actionNotRegistered, `action "${name}"`);
}

function describeBinding(name: string, b: ModuleBinding): string {
  switch (b.kind) {
    case "local":
      return `\`${name}\` is a module-level ${b.what}, not an action`;
    case "import":
      return `\`${name}\` is imported from "${b.source}" and is not an action`;
    case "waymark":
      return `\`${name}\` from "waymark" cannot be used here`;
    default:
      return `\`${name}\``;
  }
}

function identifier(fc: FnCompiler, id: Extract<Expression, { type: "Identifier" }>): Expr {
  const name = id.value;
  const local = fc.scope.resolve(name);
  if (local) return local.up ? { k: "var", n: local.binding.slot, up: local.up } : { k: "var", n: local.binding.slot };
  if (name === "undefined") return UNDEFINED;
  if (name === "NaN") return literalNumber(NaN);
  if (name === "Infinity") return literalNumber(Infinity);
  const b = moduleBinding(fc.module, name);
  if (b) {
    if (b.kind === "action") {
      checkRegistered(fc, id, b.name);
      return { k: "actref", name: b.name, node: fc.nodeId("act", id) };
    }
    if (b.kind === "local" && b.what === "variable") {
      const v = staticValue(fc, b.init);
      if (v) return v;
      return fc.fail(id, RULES.unknownIdentifier, `\`${name}\` is a module-level variable whose value is not a literal: pass it in as an argument`);
    }
    return fc.fail(id, RULES.unknownIdentifier, describeBinding(name, b));
  }
  forbiddenGlobal(fc, id, name);
  if (GLOBAL_ROOTS.has(name)) return { k: "global", path: name };
  return fc.fail(id, RULES.unknownIdentifier, `\`${name}\``);
}

function templateLiteral(fc: FnCompiler, t: TemplateLiteral): Expr {
  const e = ordered(fc, t.expressions.map((x) => ({ node: x, compile: () => compileExpr(fc, x) })));
  return { k: "tpl", q: t.quasis.map((q) => q.cooked ?? q.raw), e };
}

/** `Math.max`, `Number.isInteger`: the dotted path of a global member, if the object is a global. */
function globalPath(fc: FnCompiler, m: MemberExpression): string | undefined {
  const obj = unwrapTs(m.object);
  if (obj.type !== "Identifier" || m.property.type !== "Identifier") return undefined;
  if (fc.scope.resolve(obj.value) || moduleBinding(fc.module, obj.value)) return undefined;
  return `${obj.value}.${m.property.value}`;
}

function member(fc: FnCompiler, m: MemberExpression, opt: boolean): Expr {
  const obj = unwrapTs(m.object);
  if (obj.type === "ThisExpression") return fc.fail(m, RULES.thisAccess);
  if (obj.type === "Identifier" && !fc.scope.resolve(obj.value)) {
    const b = moduleBinding(fc.module, obj.value);
    if (b?.kind === "namespace" && m.property.type === "Identifier") {
      const name = namespaceMember(b, m.property.value);
      if (name !== undefined) {
        const registered = name ?? m.property.value;
        checkRegistered(fc, m, registered);
        return { k: "actref", name: registered, node: fc.nodeId("act", m) };
      }
      return fc.fail(m, RULES.unknownIdentifier, `\`${obj.value}.${m.property.value}\` is not an action`);
    }
    const path = globalPath(fc, m);
    if (path) {
      forbiddenGlobal(fc, m, path);
      if (GLOBALS.has(path)) return { k: "global", path };
      if (GLOBAL_ROOTS.has(obj.value)) return fc.fail(m, RULES.unsupportedSyntax, `\`${path}\` is not one of the pure built-ins a workflow may use`);
    }
  }
  if (m.property.type === "PrivateName") return fc.fail(m, RULES.unsupportedSyntax, "private field");
  if (m.property.type === "Identifier") {
    if (FORBIDDEN_PROPERTIES.has(m.property.value)) fc.fail(m, RULES.unsupportedSyntax, `property \`${m.property.value}\``);
    const o = compileExpr(fc, m.object, true);
    return opt ? { k: "get", o, p: m.property.value, opt: true } : { k: "get", o, p: m.property.value };
  }
  const computed = m.property.expression;
  const [o, p] = ordered(fc, [
    { node: m.object, compile: () => compileExpr(fc, m.object, true) },
    { node: computed, compile: () => compileExpr(fc, computed) },
  ]) as [Expr, Expr];
  return opt ? { k: "get", o, p, opt: true } : { k: "get", o, p };
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
const SYNC_CALLBACK_METHODS = new Set(["forEach", "filter", "find", "findIndex", "findLast", "findLastIndex", "some", "every", "reduce", "reduceRight", "sort", "toSorted"]);

function call(fc: FnCompiler, c: CallExpression, opt: boolean): Expr {
  const callee = c.callee.type === "Super" || c.callee.type === "Import" ? c.callee : unwrapTs(c.callee);
  if (callee.type === "Super") return fc.fail(c, RULES.superCall);
  if (callee.type === "Import") return fc.fail(c, RULES.dynamicImport);

  const action = calleeAction(fc, callee);
  if (action !== undefined) return actionCall(fc, c, action, c.arguments, null);

  if (callee.type === "Identifier" && !fc.scope.resolve(callee.value)) {
    const name = callee.value;
    const b = moduleBinding(fc.module, name);
    if (b?.kind === "waymark" && b.name === "sleep") return sleepCall(fc, c, false);
    if (b?.kind === "timers" && b.name === "setTimeout") return sleepCall(fc, c, true);
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
    const path = globalPath(fc, callee);
    if (path) {
      forbiddenGlobal(fc, c, path);
      if (GLOBALS.has(path)) return { k: "call", f: { k: "global", path }, args: argList(fc, c.arguments).args };
      if (GLOBAL_ROOTS.has((obj as { value: string }).value)) return fc.fail(c, RULES.unsupportedSyntax, `\`${path}\` is not one of the pure built-ins a workflow may use`);
    }
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

  const t = callSiteText(c.callee as Expression);
  const { prefix, args } = argList(fc, c.arguments, [compileExpr(fc, c.callee as Expression, true)]);
  return opt ? { k: "call", f: prefix[0]!, args, opt: true, t } : { k: "call", f: prefix[0]!, args, t };
}

function sleepCall(fc: FnCompiler, c: CallExpression, timers: boolean): Expr {
  if (c.arguments.length < 1 || c.arguments.length > (timers ? 2 : 1) || c.arguments.some((a) => a.spread)) fc.fail(c, RULES.sleepShape);
  const [ms, v] = ordered(fc, c.arguments.map((a) => ({ node: a.expression, compile: () => compileExpr(fc, a.expression) })));
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

function newExpr(fc: FnCompiler, n: NewExpression): Expr {
  const callee = unwrapTs(n.callee);
  const args = n.arguments ?? [];
  if (callee.type === "Identifier" && !fc.scope.resolve(callee.value)) {
    const b = moduleBinding(fc.module, callee.value);
    // Retry and backoff policies are data: `new RetryPolicy({...})` is its options object.
    if (b?.kind === "waymark" && (b.name === "RetryPolicy" || b.name === "BackoffPolicy")) {
      if (args.length !== 1 || args[0]!.spread) return fc.fail(n, RULES.runActionShape, `${b.name} takes one options object`);
      return { k: "call", f: { k: "global", path: `#${b.name}` }, args: [compileExpr(fc, args[0]!.expression)] };
    }
    if (b) return fc.fail(n, RULES.classInWorkflow, `\`new ${callee.value}\`: instances of classes would not survive a restart`);
    if (callee.value === "Date" && args.length === 0) return fc.fail(n, RULES.newDateNow);
    forbiddenGlobal(fc, n, callee.value);
    if (CONSTRUCTORS.has(callee.value)) return { k: "new", c: callee.value, args: argList(fc, args).args };
  }
  return fc.fail(n, RULES.classInWorkflow, "only built-in classes such as Error, Map, Set and Date can be constructed");
}

function logical(fc: FnCompiler, node: Located, op: "&&" | "||" | "??", left: Expression, right: Expression): Expr {
  const l = compileExpr(fc, left);
  if (!containsAwait(right)) return { k: "log", op, l, r: compileExpr(fc, right) };
  // The right side awaits: evaluate it only when the left side does not short-circuit.
  const n = fc.temp();
  const t: Expr = { k: "var", n };
  fc.emit({ op: "bind", p: { k: "id", n }, e: l, at: fc.pos(node) });
  const test: Expr = op === "&&" ? t : op === "||" ? { k: "un", op: "!", e: t } : { k: "bin", op: "==", l: t, r: { k: "lit", v: null } };
  const jf = fc.emit({ op: "jf", e: test, to: -1, at: fc.pos(node) });
  fc.emit({ op: "bind", p: { k: "id", n }, e: compileExpr(fc, right), at: fc.pos(right) });
  fc.patch(jf, fc.here());
  return t;
}

function conditional(fc: FnCompiler, node: Extract<Expression, { type: "ConditionalExpression" }>): Expr {
  const test = compileExpr(fc, node.test);
  if (!containsAwait(node.consequent) && !containsAwait(node.alternate)) {
    return { k: "cond", t: test, c: compileExpr(fc, node.consequent), a: compileExpr(fc, node.alternate) };
  }
  const n = fc.temp();
  const jf = fc.emit({ op: "jf", e: test, to: -1, at: fc.pos(node.test) });
  fc.emit({ op: "bind", p: { k: "id", n }, e: compileExpr(fc, node.consequent), at: fc.pos(node.consequent) });
  const jmp = fc.emit({ op: "jmp", to: -1 });
  fc.patch(jf, fc.here());
  fc.emit({ op: "bind", p: { k: "id", n }, e: compileExpr(fc, node.alternate), at: fc.pos(node.alternate) });
  fc.patch(jmp, fc.here());
  return { k: "var", n };
}

function assignment(fc: FnCompiler, a: Extract<Expression, { type: "AssignmentExpression" }>): Expr {
  const op = a.operator as AssignOp;
  const left = a.left as unknown as Pattern;
  if (op !== "=" && (op === "&&=" || op === "||=" || op === "??=") && containsAwait(a.right)) {
    return fc.fail(a, RULES.unsupportedSyntax, "await on the right of a logical assignment");
  }
  let target: Pat = labelPattern(compilePattern(fc, left, "assign"), callSiteText(a.right), undefined);
  if (target.k === "mem" && containsAwait(a.right)) {
    // The target's object and key are evaluated before the right side.
    target = { k: "mem", o: fc.spill(target.o, fc.pos(a)), p: typeof target.p === "string" ? target.p : fc.spill(target.p, fc.pos(a)) };
  }
  return { k: "assign", op, t: target, e: compileExpr(fc, a.right) };
}

function arrow(fc: FnCompiler, a: ArrowFunctionExpression): Expr {
  if (a.generator) return fc.fail(a, RULES.generator);
  const index = fc.ctx.fns.length;
  fc.ctx.fns.push(null as never);
  const sub = new FnCompiler(fc.ctx, fc.module, index, a.async, fc.scope);
  const params = sub.params(a.params);
  // swc 1.16 calls a block body "FunctionBody" (its types say BlockStatement).
  if ("stmts" in a.body && Array.isArray((a.body as { stmts?: unknown }).stmts)) sub.body((a.body as { stmts: Statement[] }).stmts);
  else sub.emit({ op: "ret", e: compileExpr(sub, a.body as Expression), at: sub.pos(a.body) });
  const [line, column] = fc.pos(a);
  fc.ctx.fns[index] = sub.finish(`arrow@${line}:${column}`, params, true, [line, column]);
  return { k: "fn", f: index };
}

function objectExpr(fc: FnCompiler, o: Extract<Expression, { type: "ObjectExpression" }>): Expr {
  type Prop = Extract<Expr, { k: "obj" }>["props"][number];
  const shapes: Array<(parts: Expr[]) => Prop> = [];
  const parts: Array<{ node: unknown; compile: () => Expr }> = [];
  for (const p of o.properties) {
    switch (p.type) {
      case "SpreadElement":
        parts.push({ node: p.arguments, compile: () => compileExpr(fc, p.arguments) });
        shapes.push((xs) => ({ spread: xs.shift()! }));
        break;
      case "Identifier":
        parts.push({ node: p, compile: () => identifier(fc, p) });
        shapes.push((xs) => ({ key: p.value, v: xs.shift()! }));
        break;
      case "KeyValueProperty": {
        if (p.key.type === "Computed") {
          const keyNode = p.key.expression;
          parts.push({ node: keyNode, compile: () => compileExpr(fc, keyNode) });
          parts.push({ node: p.value, compile: () => compileExpr(fc, p.value) });
          shapes.push((xs) => ({ ck: xs.shift()!, v: xs.shift()! }));
        } else {
          const key = propertyKey(fc, p.key) as string;
          if (key === "__proto__") fc.fail(p.key as Located, RULES.unsupportedSyntax, "`__proto__` in an object literal");
          parts.push({ node: p.value, compile: () => compileExpr(fc, p.value) });
          shapes.push((xs) => ({ key, v: xs.shift()! }));
        }
        break;
      }
      default:
        return fc.fail(p as Located, RULES.nestedFunction, "methods, getters and setters in object literals");
    }
  }
  const compiled = ordered(fc, parts);
  return { k: "obj", props: shapes.map((shape) => shape(compiled)) };
}

/** Values that are never promises: awaiting one is a mistake (and would not wait for anything). */
const NOT_AWAITABLE = new Set([
  "StringLiteral", "NumericLiteral", "BooleanLiteral", "NullLiteral", "BigIntLiteral", "RegExpLiteral", "TemplateLiteral",
  "ArrayExpression", "ObjectExpression", "BinaryExpression", "UnaryExpression", "UpdateExpression", "ArrowFunctionExpression",
]);

/**
 * Compiles the argument of an `await`. What a workflow can wait for is an action call, a sleep,
 * a helper method or closure (an async function of the workflow), `Promise.all`/`allSettled` of
 * those, or a variable holding one; a call of any other function, or a plain value, is refused.
 */
export function awaitArgument(fc: FnCompiler, node: Extract<Expression, { type: "AwaitExpression" }>): Expr {
  if (!fc.isAsync) return fc.fail(node, RULES.awaitInCallback);
  const arg = unwrapTs(node.argument);
  if (NOT_AWAITABLE.has(arg.type)) fc.fail(node, RULES.awaitNonAction, "this value is not a promise");
  if (arg.type === "CallExpression" && arg.callee.type === "Identifier" && !fc.scope.resolve(arg.callee.value)) {
    const b = moduleBinding(fc.module, arg.callee.value);
    if (b && (b.kind === "local" || b.kind === "import")) fc.fail(node, RULES.awaitNonAction, describeBinding(arg.callee.value, b));
  }
  return compileExpr(fc, node.argument);
}

/** Compiles an expression; awaits inside it are emitted as instructions before it. */
export function compileExpr(fc: FnCompiler, node: Expression, inChain = false): Expr {
  const e = unwrapTs(node);
  switch (e.type) {
    case "Identifier":
      return identifier(fc, e);
    case "StringLiteral":
    case "BooleanLiteral":
      return { k: "lit", v: e.value };
    case "NumericLiteral":
      return literalNumber(e.value);
    case "NullLiteral":
      return { k: "lit", v: null };
    case "BigIntLiteral":
      return { k: "lit", v: { $w: "big", v: BigInt(e.raw ? e.raw.replace(/n$/, "").replace(/_/g, "") : String(e.value)).toString() } };
    case "RegExpLiteral":
      return { k: "re", p: e.pattern, f: e.flags };
    case "TemplateLiteral":
      return templateLiteral(fc, e);
    case "ArrayExpression": {
      const kinds: Array<"hole" | "item" | { t: string }> = [];
      const parts: Array<{ node: unknown; compile: () => Expr }> = [];
      for (const el of e.elements) {
        if (!el) kinds.push("hole");
        else {
          kinds.push(el.spread ? { t: callSiteText(el.expression) } : "item");
          parts.push({ node: el.expression, compile: () => compileExpr(fc, el.expression) });
        }
      }
      const compiled = ordered(fc, parts);
      let i = 0;
      return { k: "arr", items: kinds.map((kind) => (kind === "hole" ? null : kind === "item" ? compiled[i++]! : { spread: compiled[i++]!, t: kind.t })) };
    }
    case "ObjectExpression":
      return objectExpr(fc, e);
    case "MemberExpression":
      return member(fc, e, false);
    case "OptionalChainingExpression": {
      const base = e.base;
      const optional = (e as { optional?: boolean }).optional === true;
      const inner: Expr = base.type === "MemberExpression" ? member(fc, base, optional) : call(fc, base as unknown as CallExpression, optional);
      return inChain ? inner : { k: "chain", e: inner };
    }
    case "CallExpression":
      return call(fc, e, false);
    case "NewExpression":
      return newExpr(fc, e);
    case "AwaitExpression": {
      const arg = awaitArgument(fc, e);
      const n = fc.temp();
      fc.emit({ op: "await", e: arg, p: { k: "id", n }, at: fc.pos(e), node: fc.nodeId("await", e) });
      return { k: "var", n };
    }
    case "BinaryExpression": {
      if (e.operator === "&&" || e.operator === "||" || e.operator === "??") return logical(fc, e, e.operator, e.left, e.right);
      const [l, r] = ordered(fc, [
        { node: e.left, compile: () => compileExpr(fc, e.left) },
        { node: e.right, compile: () => compileExpr(fc, e.right) },
      ]) as [Expr, Expr];
      return { k: "bin", op: e.operator as BinOp, l, r };
    }
    case "UnaryExpression": {
      if (e.operator === "delete") {
        const target = unwrapTs(e.argument);
        if (target.type !== "MemberExpression") return fc.fail(e, RULES.unsupportedSyntax, "delete of a non-property");
        return { k: "del", t: member(fc, target, false) };
      }
      return { k: "un", op: e.operator, e: compileExpr(fc, e.argument) };
    }
    case "UpdateExpression":
      return { k: "upd", op: e.operator, prefix: e.prefix, t: compilePattern(fc, e.argument as unknown as Pattern, "assign") };
    case "AssignmentExpression":
      return assignment(fc, e);
    case "ConditionalExpression":
      return conditional(fc, e);
    case "SequenceExpression": {
      const es: Expr[] = [];
      e.expressions.forEach((x, i) => {
        const later = e.expressions.slice(i + 1);
        if (i < e.expressions.length - 1 && containsAwait(later)) fc.emit({ op: "expr", e: compileExpr(fc, x), at: fc.pos(x) });
        else es.push(compileExpr(fc, x));
      });
      return es.length === 1 ? es[0]! : { k: "seq", es };
    }
    case "ArrowFunctionExpression":
      return arrow(fc, e);
    case "FunctionExpression":
      return fc.fail(e, e.generator ? RULES.generator : RULES.nestedFunction);
    case "ClassExpression":
      return fc.fail(e, RULES.classInWorkflow);
    case "ThisExpression":
      return fc.fail(e, RULES.thisAccess);
    case "YieldExpression":
      return fc.fail(e, RULES.generator);
    case "TaggedTemplateExpression":
      return fc.fail(e, RULES.unsupportedSyntax, "tagged template");
    case "MetaProperty":
      return fc.fail(e, RULES.unsupportedSyntax, "import.meta / new.target");
    case "SuperPropExpression":
      return fc.fail(e, RULES.superCall);
    default:
      return fc.fail(e as Located, RULES.unsupportedSyntax, e.type);
  }
}
