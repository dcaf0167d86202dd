/**
 * Names in a workflow body: its variables, the module's actions and literal constants, and the
 * whitelisted globals; any other name, and the forbidden globals of the rules table, fail.
 */
import type { Expression, MemberExpression, Node, ObjectPatternProperty, Pattern, Span } from "@swc/core";
import { GLOBALS, GLOBAL_ROOTS } from "../core/builtins.js";
import { unwrapTs } from "./callsite.js";
import type { FnCompiler } from "./function.js";
import type { Expr } from "../core/ir.js";
import { moduleBinding, type ModuleBinding } from "./resolve.js";
import { FORBIDDEN_GLOBALS, RULES } from "./rules.js";
import { cookedValue, stringValue } from "./literals.js";

type Located = Node & { span: Span };

const UNDEFINED: Expr = { k: "lit", v: { $w: "u" } };

export function literalNumber(n: number): Expr {
  return Number.isFinite(n) ? { k: "lit", v: n } : { k: "lit", v: { $w: "num", v: String(n) } };
}

/** A module-level `const` with a literal initialiser, inlined as a value. */
function staticValue(fc: FnCompiler, e: Expression | undefined, depth = 0): Expr | undefined {
  if (!e || depth > 20) return undefined;
  const x = unwrapTs(e);
  switch (x.type) {
    case "StringLiteral":
      return { k: "lit", v: stringValue(x) };
    case "BooleanLiteral":
      return { k: "lit", v: x.value };
    case "NumericLiteral":
      return literalNumber(x.value);
    case "NullLiteral":
      return { k: "lit", v: null };
    case "TemplateLiteral":
      return x.expressions.length === 0 ? { k: "lit", v: x.quasis.map((q) => cookedValue(q) ?? "").join("") } : undefined;
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
        const key =
          p.key.type === "Identifier"
            ? p.key.value
            : p.key.type === "StringLiteral"
              ? stringValue(p.key)
              : p.key.type === "NumericLiteral"
                ? String(p.key.value)
                : undefined;
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

export function forbiddenGlobal(fc: FnCompiler, node: Located, path: string): void {
  for (const f of FORBIDDEN_GLOBALS) if (f.match.test(path)) fc.fail(node, f.rule);
}

export function checkRegistered(fc: FnCompiler, node: Located, name: string): void {
  if (!fc.ctx.lookup.has(name)) fc.fail(node, RULES.actionNotRegistered, `action "${name}"`);
}

export function describeBinding(name: string, b: ModuleBinding): string {
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

export function identifier(fc: FnCompiler, id: Extract<Expression, { type: "Identifier" }>): Expr {
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
    if (b.kind === "waymark" && b.name === "log") return fc.fail(id, RULES.logShape, `\`${name}\` as a value`);
    if (b.kind === "local" && b.what === "variable") {
      const v = staticValue(fc, b.init);
      if (v) return v;
      return fc.fail(id, RULES.unknownIdentifier, `\`${name}\` is a module-level variable whose value is not a literal: pass it in as an argument`);
    }
    return fc.fail(id, RULES.unknownIdentifier, describeBinding(name, b));
  }
  forbiddenGlobal(fc, id, name);
  // Date's statics read the clock: it is used where it stands, never held (see dateOperand).
  if (name === "Date") return fc.fail(id, RULES.clockValue);
  if (GLOBALS.has(name)) return { k: "global", path: name };
  // Math and JSON are namespaces: their members are used by name, the objects themselves are not values.
  if (GLOBAL_ROOTS.has(name)) return fc.fail(id, RULES.builtinValue, `\`${name}\` as a value`);
  return fc.fail(id, RULES.unknownIdentifier, `\`${name}\``);
}

/** The name of a global (not a variable, not an import) this expression is, if it is one. */
export function globalName(fc: FnCompiler, e: Expression): string | undefined {
  const x = unwrapTs(e);
  if (x.type !== "Identifier" || fc.scope.resolve(x.value) || moduleBinding(fc.module, x.value)) return undefined;
  if (x.value === "undefined" || x.value === "NaN" || x.value === "Infinity") return undefined;
  return x.value;
}

/** A computed key that is a string literal (`["max"]`, `` [`max`] ``): the same as the dotted name. */
function literalKey(e: Expression): string | undefined {
  const x = unwrapTs(e);
  if (x.type === "StringLiteral") return stringValue(x);
  if (x.type === "TemplateLiteral" && x.expressions.length === 0) return x.quasis.map((q) => cookedValue(q) ?? q.raw).join("");
  if (x.type === "NumericLiteral") return String(x.value);
  return undefined;
}

/**
 * `Math.max`, `Number.isInteger`, `Math["max"]`: the dotted path of a global member, if the
 * object is a global and the key is a name or a literal.
 */
function globalPath(fc: FnCompiler, m: MemberExpression): string | undefined {
  const root = globalName(fc, m.object);
  if (root === undefined) return undefined;
  const key = m.property.type === "Identifier" ? m.property.value : m.property.type === "Computed" ? literalKey(m.property.expression) : undefined;
  return key === undefined ? undefined : `${root}.${key}`;
}

/**
 * Refuses a member of a built-in namespace that is not one of the pure built-ins: a forbidden one
 * (`Math.random`, `Date["now"]`) by its rule, and any other (`Object.getPrototypeOf`) as unsupported.
 * A computed key that is not a literal (`Math[name]`) cannot be checked, so it is refused too.
 */
export function checkGlobalMember(fc: FnCompiler, node: Located, m: MemberExpression): string | undefined {
  const root = globalName(fc, m.object);
  if (root === undefined) return undefined;
  const path = globalPath(fc, m);
  if (path === undefined) {
    forbiddenGlobal(fc, node, root);
    if (GLOBAL_ROOTS.has(root)) return fc.fail(node, RULES.builtinMember, `a computed member of \`${root}\``);
    return undefined;
  }
  forbiddenGlobal(fc, node, path);
  if (GLOBALS.has(path)) return path;
  if (GLOBAL_ROOTS.has(root)) return fc.fail(node, RULES.builtinMember, `\`${path}\` is not one of the pure built-ins a workflow may use`);
  return undefined;
}

/**
 * `const { max, PI } = Math`, `const { isInteger } = Number`: destructuring a built-in namespace
 * is the same as naming its members, so each must be one a workflow may use (`const { now } =
 * Date` is refused as `Date.now` is). Returns what to destructure instead: an object of those
 * members (Math and JSON are not values), or undefined when the source is not a built-in.
 */
export function builtInSource(fc: FnCompiler, pattern: Pattern, init: Expression | undefined): Expr | undefined {
  if (!init || pattern.type !== "ObjectPattern") return undefined;
  const root = globalName(fc, init);
  if (root === undefined || !GLOBAL_ROOTS.has(root)) return undefined;
  const props: Array<{ key: string; v: Expr }> = [];
  for (const prop of pattern.properties as ObjectPatternProperty[]) {
    let key: string | undefined;
    if (prop.type === "AssignmentPatternProperty") key = prop.key.value;
    else if (prop.type === "KeyValuePatternProperty") {
      const k = prop.key;
      key =
        k.type === "Identifier"
          ? k.value
          : k.type === "StringLiteral"
            ? stringValue(k)
            : k.type === "NumericLiteral"
              ? String(k.value)
              : k.type === "Computed"
                ? literalKey(k.expression)
                : undefined;
    }
    const at = (prop.type === "KeyValuePatternProperty" ? prop.key : prop) as Located; // swc gives a key-value property no span
    if (key === undefined)
      return fc.fail(at, RULES.builtinMember, prop.type === "RestElement" ? `the rest of \`${root}\`` : `a computed member of \`${root}\``);
    const path = `${root}.${key}`;
    forbiddenGlobal(fc, at, path);
    if (!GLOBALS.has(path)) return fc.fail(at, RULES.builtinMember, `\`${path}\` is not one of the pure built-ins a workflow may use`);
    if (!props.some((p) => p.key === key)) props.push({ key, v: { k: "global", path } });
  }
  return { k: "obj", props };
}

/** `Date` where it may stand as a value: the right of `instanceof` (unless a local shadows it). */
export function dateOperand(fc: FnCompiler, e: Expression): Expr | undefined {
  const x = unwrapTs(e);
  if (x.type !== "Identifier" || x.value !== "Date" || fc.scope.resolve("Date") || moduleBinding(fc.module, "Date")) return undefined;
  return { k: "global", path: "Date" };
}
