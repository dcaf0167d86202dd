/**
 * Binding and assignment patterns (destructuring, defaults, rest, member targets) to IR patterns,
 * and the names a pattern or a statement list declares, for hoisting. A root pattern carries the
 * source texts V8 quotes in its TypeErrors, so a failed destructuring reads as it would natively.
 */
import type { Expression, Node, ObjectPatternProperty, Pattern, PropertyName, Span, Statement } from "@swc/core";
import { GLOBAL_ROOTS, STATIC_FORBIDDEN_PROPERTIES } from "../core/builtins.js";
import { callSiteText, unwrapTs } from "./callsite.js";
import { compileExpr, containsAwait } from "./expression.js";
import type { FnCompiler } from "./function.js";
import type { Expr, Pat } from "../core/ir.js";
import { globalName } from "./names.js";
import { RULES } from "./rules.js";
import type { BindingKind } from "./scope.js";
import { stringValue } from "./literals.js";

/** The names a binding pattern declares. */
export function declarePatternNames(p: Pattern | null | undefined): string[] {
  if (!p) return [];
  switch (p.type) {
    case "Identifier":
      return [p.value];
    case "ArrayPattern":
      return p.elements.flatMap((e) => declarePatternNames(e ?? null));
    case "ObjectPattern":
      return p.properties.flatMap((prop) =>
        prop.type === "KeyValuePatternProperty"
          ? declarePatternNames(prop.value)
          : prop.type === "AssignmentPatternProperty"
            ? [prop.key.value]
            : declarePatternNames(prop.argument),
      );
    case "AssignmentPattern":
      return declarePatternNames(p.left);
    case "RestElement":
      return declarePatternNames(p.argument);
    default:
      return [];
  }
}

export function propertyKey(fc: FnCompiler, key: PropertyName): string | Expr {
  switch (key.type) {
    case "Identifier":
      return key.value;
    case "StringLiteral":
      return stringValue(key);
    case "NumericLiteral":
      return String(key.value);
    case "BigIntLiteral":
      return String(key.value);
    case "Computed":
      return compileExpr(fc, key.expression);
    default:
      return fc.fail(key as Node & { span: Span }, RULES.unsupportedSyntax, "property key");
  }
}

function defaultExpr(fc: FnCompiler, e: Expression): Expr {
  if (containsAwait(e)) fc.fail(e, RULES.unsupportedSyntax, "await in a default value");
  return compileExpr(fc, e);
}

/** The names `let`/`const` declare directly in a statement list. */
export function lexicalNames(stmts: Statement[]): string[] {
  return stmts.flatMap((s) => (s.type === "VariableDeclaration" && s.kind !== "var" ? s.declarations.flatMap((d) => declarePatternNames(d.id)) : []));
}

/** Marks a root destructuring pattern with the texts its TypeErrors quote (see Pat in ir.ts). */
export function labelPattern(p: Pat, objectText: string | undefined, arrayText: string | undefined): Pat {
  if (p.k === "def") labelPattern(p.p, objectText, arrayText);
  else if (p.k === "objp" && objectText !== undefined) p.t = objectText;
  else if (p.k === "arrp" && arrayText !== undefined) p.t = arrayText;
  return p;
}

/**
 * Compiles a binding or assignment pattern. `declare` creates bindings in the current scope
 * (reusing the hoisted ones); `assign` resolves existing variables and allows member targets.
 */
export function compilePattern(fc: FnCompiler, p: Pattern, mode: "declare" | "assign", kind: BindingKind = "let"): Pat {
  switch (p.type) {
    case "Identifier": {
      if (mode === "declare") {
        const b = fc.scope.declare(p.value, kind);
        return { k: "id", n: b.slot };
      }
      const r = fc.scope.resolve(p.value);
      if (!r) return fc.fail(p, RULES.unknownIdentifier, `assignment to \`${p.value}\``);
      if (r.binding.kind === "const") return fc.fail(p, RULES.constAssign, `\`${p.value}\` is a const`);
      return r.up ? { k: "id", n: r.binding.slot, up: r.up } : { k: "id", n: r.binding.slot };
    }
    case "ArrayPattern": {
      let rest: Pat | null = null;
      const items: Array<Pat | null> = [];
      for (const el of p.elements) {
        if (!el) items.push(null);
        else if (el.type === "RestElement") rest = compilePattern(fc, el.argument, mode, kind);
        else items.push(compilePattern(fc, el, mode, kind));
      }
      return { k: "arrp", items, rest };
    }
    case "ObjectPattern": {
      let rest: Pat | null = null;
      const props: Array<{ key: string | Expr; v: Pat }> = [];
      for (const prop of p.properties as ObjectPatternProperty[]) {
        if (prop.type === "RestElement") rest = compilePattern(fc, prop.argument, mode, kind);
        else if (prop.type === "KeyValuePatternProperty") {
          if ((prop.key.type === "Identifier" || prop.key.type === "StringLiteral") && STATIC_FORBIDDEN_PROPERTIES.has(prop.key.value))
            fc.fail(prop.key, RULES.unsupportedSyntax, `property \`${prop.key.value}\``);
          props.push({ key: propertyKey(fc, prop.key), v: compilePattern(fc, prop.value, mode, kind) });
        } else {
          if (STATIC_FORBIDDEN_PROPERTIES.has(prop.key.value)) fc.fail(prop.key, RULES.unsupportedSyntax, `property \`${prop.key.value}\``);
          const target = compilePattern(fc, prop.key, mode, kind);
          props.push({ key: prop.key.value, v: prop.value ? { k: "def", p: target, d: defaultExpr(fc, prop.value) } : target });
        }
      }
      return { k: "objp", props, rest };
    }
    case "AssignmentPattern":
      return { k: "def", p: compilePattern(fc, p.left, mode, kind), d: defaultExpr(fc, p.right) };
    case "RestElement":
      return fc.fail(p, RULES.unsupportedSyntax, "rest element outside a pattern");
    default: {
      const e = unwrapTs(p as unknown as Expression);
      if (mode === "assign" && e.type === "MemberExpression") {
        if (e.object.type === "ThisExpression") return fc.fail(e, RULES.thisAccess);
        const root = globalName(fc, e.object);
        if (root !== undefined && GLOBAL_ROOTS.has(root)) return fc.fail(e, RULES.builtinChange, `\`${callSiteText(e)}\``);
        if (e.property.type === "Identifier" && STATIC_FORBIDDEN_PROPERTIES.has(e.property.value))
          fc.fail(e, RULES.unsupportedSyntax, `property \`${e.property.value}\``);
        const o = compileExpr(fc, e.object);
        const prop =
          e.property.type === "Identifier"
            ? e.property.value
            : e.property.type === "Computed"
              ? compileExpr(fc, e.property.expression)
              : fc.fail(e, RULES.unsupportedSyntax, "private field");
        return { k: "mem", o, p: prop };
      }
      return fc.fail(p as Node & { span: Span }, RULES.updateNonVariable);
    }
  }
}
