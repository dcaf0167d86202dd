/**
 * How V8 renders an expression in its TypeErrors ("o.list.at(...) is not a function",
 * "data.items is not iterable", "Cannot destructure property 'a' of 'res.body' ..."): its
 * CallPrinter prints names, property paths and literals, `(...)` for call arguments, and
 * "(intermediate value)" for anything it does not print. The interpreter raises the same
 * messages from these texts, so a workflow's failures read exactly as they would natively.
 */
import type { Expression } from "@swc/core";

const INTERMEDIATE = "(intermediate value)";

/** TypeScript-only wrappers and parentheses: what a value is once its types are set aside. */
const WRAPPERS = new Set([
  "TsAsExpression",
  "TsSatisfiesExpression",
  "TsNonNullExpression",
  "ParenthesisExpression",
  "TsTypeAssertion",
  "TsConstAssertion",
  "TsInstantiation",
]);

export function unwrapTs(e: Expression): Expression {
  let cur = e;
  while (WRAPPERS.has(cur.type)) cur = (cur as { expression: Expression }).expression;
  return cur;
}

/**
 * Whether parentheses wrap this optional chain: they end it, so `(a?.b).c` reads `c` of
 * undefined when `a` is nullish (a TypeError) where `a?.b.c` is undefined. A non-null assertion
 * does not end a chain (`a?.b!.c` is `a?.b.c`).
 */
export function closedChain(e: Expression): boolean {
  let cur = e;
  let parens = false;
  while (WRAPPERS.has(cur.type)) {
    if (cur.type === "ParenthesisExpression") parens = true;
    cur = (cur as { expression: Expression }).expression;
  }
  return parens && cur.type === "OptionalChainingExpression";
}

type Node = { type: string; [k: string]: unknown };

function property(prop: Node, optional: boolean): string {
  const dot = optional ? "?." : ".";
  if (prop.type === "Identifier") return `${dot}${prop.value as string}`;
  if (prop.type === "PrivateName") return `${dot}#${(prop.id as { value: string } | undefined)?.value ?? (prop.value as string)}`;
  const key = unwrapTs((prop as unknown as { expression: Expression }).expression);
  if (key.type === "StringLiteral") return `${dot}${key.value}`;
  if (key.type === "TemplateLiteral" && key.expressions.length === 0) return `${dot}${key.quasis.map((q) => q.cooked ?? q.raw).join("")}`;
  const open = optional ? "?.[" : "[";
  if (key.type === "NumericLiteral") return `${open}${String(key.value)}]`;
  return `${open}${callSiteText(key)}]`;
}

export function callSiteText(expr: Expression): string {
  const e = unwrapTs(expr);
  // A parenthesised optional chain is a value of its own: V8 does not print it.
  if (e.type === "OptionalChainingExpression" && closedChain(expr)) return INTERMEDIATE;
  switch (e.type) {
    case "Identifier":
      return e.value;
    case "ThisExpression":
      return "this";
    case "StringLiteral":
      return JSON.stringify(e.value);
    case "NumericLiteral":
      return String(e.value);
    case "BooleanLiteral":
      return String(e.value);
    case "NullLiteral":
      return "null";
    case "RegExpLiteral":
      return `/${e.pattern}/${e.flags}`;
    case "TemplateLiteral":
      return e.expressions.length === 0 ? JSON.stringify(e.quasis.map((q) => q.cooked ?? q.raw).join("")) : INTERMEDIATE;
    case "ArrayExpression":
      return `[${e.elements.map((el) => (!el ? INTERMEDIATE : el.spread ? `(...${callSiteText(el.expression)})` : callSiteText(el.expression))).join(",")}]`;
    case "ObjectExpression":
      return `{${e.properties.map(() => INTERMEDIATE).join("")}}`;
    case "MemberExpression":
      return callSiteText(e.object) + property(e.property as unknown as Node, false);
    case "OptionalChainingExpression": {
      const base = e.base as unknown as Node;
      const optional = (e as { optional?: boolean }).optional === true;
      if (base.type === "MemberExpression") return callSiteText(base.object as Expression) + property(base.property as Node, optional);
      return `${callSiteText(base.callee as Expression)}(...)`;
    }
    case "CallExpression":
      return e.callee.type === "Super" || e.callee.type === "Import" ? INTERMEDIATE : `${callSiteText(e.callee)}(...)`;
    case "UnaryExpression": {
      const arg = unwrapTs(e.argument);
      if (e.operator === "-" && arg.type === "NumericLiteral") return `-${String(arg.value)}`;
      return `(${e.operator}${/^[a-z]/.test(e.operator) ? " " : ""}${callSiteText(e.argument)})`;
    }
    case "BinaryExpression":
      return `(${callSiteText(e.left)} ${e.operator} ${callSiteText(e.right)})`;
    case "SequenceExpression":
      return `(${e.expressions.map(callSiteText).join(" , ")})`;
    case "ConditionalExpression":
      return INTERMEDIATE.repeat(3);
    case "AssignmentExpression": {
      const left = e.left as unknown as Node;
      return left.type === "Identifier" || left.type === "MemberExpression" ? callSiteText(left as unknown as Expression) : INTERMEDIATE;
    }
    default:
      return INTERMEDIATE;
  }
}

/**
 * How V8 renders a value it iterates, spreads or destructures: as callSiteText, except that an
 * optional chain is never printed there (`[...a?.b]` is "(intermediate value) is not iterable";
 * only a call prints it: "a?.f is not a function").
 */
export function operandText(expr: Expression): string {
  return unwrapTs(expr).type === "OptionalChainingExpression" ? INTERMEDIATE : callSiteText(expr);
}

/** The text V8 gives an array destructuring's source: names, awaits and literals only. */
export function arrayPatternText(init: Expression | undefined): string | undefined {
  if (!init) return undefined;
  const e = unwrapTs(init);
  switch (e.type) {
    case "Identifier":
    case "AwaitExpression":
    case "ArrayExpression":
    case "ObjectExpression":
    case "StringLiteral":
    case "NumericLiteral":
    case "BooleanLiteral":
    case "NullLiteral":
      return callSiteText(e);
    default:
      return undefined;
  }
}
