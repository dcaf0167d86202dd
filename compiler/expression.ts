/**
 * Expressions to IR expression trees. An `await` never stays inside an expression: it becomes an
 * `await` instruction before it and a temporary in its place, and the parts evaluated before it
 * are spilled to temporaries first (`ordered`), so JavaScript's evaluation order holds. `&&`,
 * `||`, `??` and `?:` whose later part awaits become jumps. What a workflow may await at all is
 * decided here too (`awaitArgument`).
 */
import type { Statement, ArrowFunctionExpression, CallExpression, Expression, MemberExpression, Node, Pattern, Span, TemplateLiteral } from "@swc/core";
import { STATIC_FORBIDDEN_PROPERTIES } from "../core/builtins.js";
import { call, newExpr } from "./call.js";
import { closedChain, operandText, unwrapTs } from "./callsite.js";
import { FnCompiler } from "./function.js";
import type { AssignOp, BinOp, Expr, Pat } from "../core/ir.js";
import { checkGlobalMember, checkRegistered, dateOperand, describeBinding, identifier, literalNumber } from "./names.js";
import { compilePattern, labelPattern, propertyKey } from "./pattern.js";
import { moduleBinding, namespaceMember } from "./resolve.js";
import { RULES } from "./rules.js";
import { cookedValue, stringValue } from "./literals.js";

type Located = Node & { span: Span };

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
export function ordered(fc: FnCompiler, parts: Array<{ node: unknown; compile: () => Expr }>, prefix: Expr[] = []): Expr[] {
  const out = [...prefix];
  for (const part of parts) {
    if (containsAwait(part.node)) for (let i = 0; i < out.length; i++) out[i] = fc.spill(out[i]!, [0, 0]);
    out.push(part.compile());
  }
  return out;
}

function templateLiteral(fc: FnCompiler, t: TemplateLiteral): Expr {
  const e = ordered(
    fc,
    t.expressions.map((x) => ({ node: x, compile: () => compileExpr(fc, x) })),
  );
  return { k: "tpl", q: t.quasis.map((q) => cookedValue(q) ?? q.raw), e };
}

export function member(fc: FnCompiler, m: MemberExpression, opt: boolean): Expr {
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
    const path = checkGlobalMember(fc, m, m);
    if (path !== undefined) return { k: "global", path };
  }
  if (m.property.type === "PrivateName") return fc.fail(m, RULES.unsupportedSyntax, "private field");
  if (m.property.type === "Identifier") {
    if (STATIC_FORBIDDEN_PROPERTIES.has(m.property.value)) fc.fail(m, RULES.unsupportedSyntax, `property \`${m.property.value}\``);
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

/** The current value of a simple assignment target. */
function readTarget(t: Extract<Pat, { k: "id" | "mem" }>): Expr {
  if (t.k === "id") return t.up ? { k: "var", n: t.n, up: t.up } : { k: "var", n: t.n };
  return { k: "get", o: t.o, p: t.p };
}

function assignment(fc: FnCompiler, a: Extract<Expression, { type: "AssignmentExpression" }>): Expr {
  const op = a.operator as AssignOp;
  const left = a.left as unknown as Pattern;
  let target: Pat = labelPattern(compilePattern(fc, left, "assign"), operandText(a.right), undefined);
  if (!containsAwait(a.right)) return { k: "assign", op, t: target, e: compileExpr(fc, a.right) };
  const at = fc.pos(a);
  // The target's object and key are evaluated before the right side...
  if (target.k === "mem") target = { k: "mem", o: fc.spill(target.o, at), p: typeof target.p === "string" ? target.p : fc.spill(target.p, at) };
  if (op === "=" || (target.k !== "id" && target.k !== "mem")) return { k: "assign", op, t: target, e: compileExpr(fc, a.right) };
  // ...and so is its current value, for `x += await f()` (a concurrent write during the await is lost, as natively).
  const current = fc.temp();
  fc.emit({ op: "bind", p: { k: "id", n: current }, e: readTarget(target), at });
  const cur: Expr = { k: "var", n: current };
  if (op === "&&=" || op === "||=" || op === "??=") {
    // Short-circuits: the right side (and its await) runs only when the value is assigned.
    const test: Expr = op === "&&=" ? cur : op === "||=" ? { k: "un", op: "!", e: cur } : { k: "bin", op: "==", l: cur, r: { k: "lit", v: null } };
    const jf = fc.emit({ op: "jf", e: test, to: -1, at });
    fc.emit({ op: "bind", p: { k: "id", n: current }, e: { k: "assign", op: "=", t: target, e: compileExpr(fc, a.right) }, at });
    fc.patch(jf, fc.here());
    return cur;
  }
  return { k: "assign", op: "=", t: target, e: { k: "bin", op: op.slice(0, -1) as BinOp, l: cur, r: compileExpr(fc, a.right) } };
}

/**
 * Whether an optional chain awaits after a point where it may short-circuit (`a?.f(await x)`):
 * the await would have to be skipped when `a` is nullish, which the flat code cannot express.
 */
export function awaitAfterShortCircuit(chain: Expression): boolean {
  const links: Array<{ optional: boolean; base: Expression }> = [];
  let cur: Expression = chain;
  while (cur.type === "OptionalChainingExpression") {
    const base = cur.base as unknown as Expression;
    links.push({ optional: (cur as { optional?: boolean }).optional === true, base });
    cur = base.type === "MemberExpression" ? base.object : ((base as CallExpression).callee as Expression);
  }
  const innermost = links.findLastIndex((l) => l.optional);
  for (let i = 0; i <= innermost; i++) {
    const base = links[i]!.base;
    const after = base.type === "MemberExpression" ? (base.property.type === "Computed" ? base.property.expression : null) : (base as CallExpression).arguments;
    if (containsAwait(after)) return true;
  }
  return false;
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
  "StringLiteral",
  "NumericLiteral",
  "BooleanLiteral",
  "NullLiteral",
  "BigIntLiteral",
  "RegExpLiteral",
  "TemplateLiteral",
  "ArrayExpression",
  "ObjectExpression",
  "BinaryExpression",
  "UnaryExpression",
  "UpdateExpression",
  "ArrowFunctionExpression",
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
  if (inChain && closedChain(node)) inChain = false;
  switch (e.type) {
    case "Identifier":
      return identifier(fc, e);
    case "StringLiteral":
      return { k: "lit", v: stringValue(e) };
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
          kinds.push(el.spread ? { t: operandText(el.expression) } : "item");
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
      if (!inChain && awaitAfterShortCircuit(e)) return fc.fail(e, RULES.unsupportedSyntax, "`await` after `?.`: await the value into a variable first");
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
        { node: e.right, compile: () => (e.operator === "instanceof" && dateOperand(fc, e.right)) || compileExpr(fc, e.right) },
      ]) as [Expr, Expr];
      return { k: "bin", op: e.operator as BinOp, l, r };
    }
    case "UnaryExpression": {
      if (e.operator === "delete") {
        const target = unwrapTs(e.argument);
        if (target.type !== "MemberExpression") return fc.fail(e, RULES.unsupportedSyntax, "delete of a non-property");
        const t = member(fc, target, false);
        if (t.k !== "get") return fc.fail(e, RULES.builtinChange);
        return { k: "del", t };
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
