/**
 * Module-level names of a workflow's module: JavaScript gives a decorator no access to the
 * module's scope, so names are resolved from the module's source: its import declarations and
 * its local `action(...)` declarations, following imports into the modules they name to find an
 * action's registered name.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { CallExpression, ClassDeclaration, Expression, ModuleItem } from "@swc/core";
import { sourceLoad, type SourceFile } from "./source.js";

/** What a module-level name in the workflow's module refers to. */
export type ModuleBinding =
  | { kind: "waymark"; name: string }
  | { kind: "timers"; name: string }
  | { kind: "action"; name: string }
  /** A workflow class (decorated with `@workflow`, or made by `workflow(class ...)`): its registered name. */
  | { kind: "workflow"; name: string }
  | { kind: "namespace"; file: string | undefined; source: string }
  | { kind: "import"; source: string; imported: string }
  | { kind: "local"; what: string; init: Expression | undefined };

export interface ActionLookup {
  has(name: string): boolean;
}

const WAYMARK_SOURCES = new Set(["waymark"]);
const TIMERS_SOURCES = new Set(["node:timers/promises", "timers/promises"]);

function isWaymarkSource(source: string, fromFile: string): boolean {
  if (WAYMARK_SOURCES.has(source)) return true;
  // The package's own tests and examples may import the SDK by path.
  if (source.startsWith(".")) {
    const abs = path.resolve(path.dirname(fromFile), source);
    return /[\\/](sdk|dist[\\/]sdk)[\\/]index\.(js|ts)$/.test(abs);
  }
  return false;
}

const TS_ALTERNATIVES: Record<string, string[]> = { ".js": [".ts", ".tsx"], ".mjs": [".mts"], ".cjs": [".cts"], ".jsx": [".tsx"] };

/** Resolves an import specifier to a file, as the TypeScript loader would. */
export function resolveSpecifier(source: string, fromFile: string): string | undefined {
  if (source.startsWith(".") || source.startsWith("/")) {
    const abs = path.resolve(path.dirname(fromFile), source);
    if (existsSync(abs) && !abs.endsWith("/")) return abs;
    const ext = path.extname(abs);
    for (const alt of TS_ALTERNATIVES[ext] ?? []) {
      const candidate = abs.slice(0, -ext.length) + alt;
      if (existsSync(candidate)) return candidate;
    }
    for (const suffix of [".ts", ".tsx", ".js", ".mjs", "/index.ts", "/index.js"]) {
      if (existsSync(abs + suffix)) return abs + suffix;
    }
    return undefined;
  }
  try {
    return createRequire(fromFile).resolve(source);
  } catch {
    return undefined;
  }
}

function unwrap(e: Expression): Expression {
  let cur = e;
  while (
    cur.type === "TsAsExpression" ||
    cur.type === "TsSatisfiesExpression" ||
    cur.type === "TsNonNullExpression" ||
    cur.type === "ParenthesisExpression" ||
    cur.type === "TsTypeAssertion" ||
    cur.type === "TsConstAssertion"
  ) {
    cur = cur.expression;
  }
  return cur;
}

/** The registered name an `action(...)` call gives, when it can be read from the source. */
function actionCallName(call: CallExpression, module: SourceFile): string | undefined {
  const args = call.arguments;
  if (args.length === 0) return undefined;
  const first = unwrap(args[0]!.expression);
  if (args.length >= 2 && first.type === "StringLiteral") return first.value;
  if (first.type === "FunctionExpression" && first.identifier) return first.identifier.value;
  if (first.type === "Identifier") {
    // action(greet) where `async function greet() {}` is declared in the module.
    for (const item of module.ast.body) {
      const decl = item.type === "ExportDeclaration" ? item.declaration : item;
      if (decl.type === "FunctionDeclaration" && decl.identifier.value === first.value) return first.value;
    }
  }
  return undefined;
}

function isActionCall(e: Expression | undefined, imports: Map<string, { source: string; imported: string }>, file: string): e is CallExpression {
  if (!e) return false;
  const call = unwrap(e);
  if (call.type !== "CallExpression" || call.callee.type !== "Identifier") return false;
  const imp = imports.get(call.callee.value);
  return imp !== undefined && imp.imported === "action" && isWaymarkSource(imp.source, file);
}

/** Whether `e` is the `workflow` export of waymark, as imported in this module. */
function isWorkflowFn(e: Expression, imports: Map<string, { source: string; imported: string }>, file: string): boolean {
  const x = unwrap(e);
  if (x.type !== "Identifier") return false;
  const imp = imports.get(x.value);
  return imp !== undefined && imp.imported === "workflow" && isWaymarkSource(imp.source, file);
}

/** The `name` of a literal `{ name: "..." }` options object, if it has one. */
function optionsName(e: Expression | undefined): string | undefined {
  const x = e ? unwrap(e) : undefined;
  if (x?.type !== "ObjectExpression") return undefined;
  for (const p of x.properties) {
    if (p.type !== "KeyValueProperty") continue;
    const key = p.key.type === "Identifier" || p.key.type === "StringLiteral" ? p.key.value : undefined;
    const v = unwrap(p.value);
    if (key === "name" && v.type === "StringLiteral") return v.value;
  }
  return undefined;
}

/** A class declaration's registered workflow name, when `@workflow` or `@workflow({ name })` decorates it. */
function decoratedWorkflowName(decl: ClassDeclaration, imports: Map<string, { source: string; imported: string }>, file: string): string | undefined {
  for (const d of decl.decorators ?? []) {
    const x = unwrap(d.expression);
    if (isWorkflowFn(x, imports, file)) return decl.identifier.value;
    if (x.type === "CallExpression" && x.callee.type !== "Super" && x.callee.type !== "Import" && isWorkflowFn(x.callee, imports, file)) {
      return optionsName(x.arguments[0]?.expression) ?? decl.identifier.value;
    }
  }
  return undefined;
}

/** `workflow(class W ...)` or `workflow({ name })(class W ...)`: the registered name. */
function workflowCallName(init: Expression, imports: Map<string, { source: string; imported: string }>, file: string): string | undefined {
  const call = unwrap(init);
  if (call.type !== "CallExpression" || call.callee.type === "Super" || call.callee.type === "Import") return undefined;
  const cls = call.arguments[0] ? unwrap(call.arguments[0].expression) : undefined;
  if (cls?.type !== "ClassExpression" || !cls.identifier) return undefined;
  if (isWorkflowFn(call.callee, imports, file)) return cls.identifier.value;
  const inner = unwrap(call.callee);
  if (inner.type === "CallExpression" && inner.callee.type !== "Super" && inner.callee.type !== "Import" && isWorkflowFn(inner.callee, imports, file)) {
    return optionsName(inner.arguments[0]?.expression) ?? cls.identifier.value;
  }
  return undefined;
}

interface ModuleIndex {
  imports: Map<string, { source: string; imported: string }>;
  /** Local names declared with `const x = action(...)` and their registered names (or null if unknown). */
  actions: Map<string, string | null>;
  /** Local names of workflow classes and their registered names. */
  workflows: Map<string, string>;
  /** Other module-level declarations: functions, classes, variables. */
  locals: Map<string, string>;
  /** Initialisers of module-level `const` declarations (a workflow may read literal ones). */
  consts: Map<string, Expression>;
  /** export name -> local name, or re-export. */
  exports: Map<string, { local: string } | { source: string; imported: string }>;
  starExports: string[];
}

const indexCache = new WeakMap<SourceFile, ModuleIndex>();

function moduleIndex(module: SourceFile): ModuleIndex {
  const hit = indexCache.get(module);
  if (hit) return hit;
  const index: ModuleIndex = {
    imports: new Map(),
    actions: new Map(),
    workflows: new Map(),
    locals: new Map(),
    consts: new Map(),
    exports: new Map(),
    starExports: [],
  };
  const declare = (item: ModuleItem, exported: boolean) => {
    const decl = item.type === "ExportDeclaration" ? item.declaration : item;
    // `declare const x` and friends are types only: nothing exists in the module at run time.
    if ((decl as { declare?: boolean }).declare) return;
    if (decl.type === "VariableDeclaration") {
      for (const d of decl.declarations) {
        if (d.id.type !== "Identifier") continue;
        const name = d.id.value;
        const wf = d.init ? workflowCallName(d.init, index.imports, module.file) : undefined;
        if (d.init && isActionCall(d.init, index.imports, module.file))
          index.actions.set(name, actionCallName(unwrap(d.init) as CallExpression, module) ?? null);
        else if (wf !== undefined) index.workflows.set(name, wf);
        else {
          index.locals.set(name, "variable");
          if (decl.kind === "const" && d.init) index.consts.set(name, d.init);
        }
        if (exported) index.exports.set(name, { local: name });
      }
    } else if (decl.type === "FunctionDeclaration") {
      index.locals.set(decl.identifier.value, "function");
      if (exported) index.exports.set(decl.identifier.value, { local: decl.identifier.value });
    } else if (decl.type === "ClassDeclaration") {
      const wf = decoratedWorkflowName(decl, index.imports, module.file);
      if (wf !== undefined) index.workflows.set(decl.identifier.value, wf);
      else index.locals.set(decl.identifier.value, "class");
      if (exported) index.exports.set(decl.identifier.value, { local: decl.identifier.value });
    }
  };
  for (const item of module.ast.body) {
    switch (item.type) {
      case "ImportDeclaration":
        if (item.typeOnly) break;
        for (const s of item.specifiers) {
          if (s.type === "ImportSpecifier") {
            if (s.isTypeOnly) continue;
            const imported = s.imported ? (s.imported.type === "Identifier" ? s.imported.value : s.imported.value) : s.local.value;
            index.imports.set(s.local.value, { source: item.source.value, imported });
          } else if (s.type === "ImportDefaultSpecifier") {
            index.imports.set(s.local.value, { source: item.source.value, imported: "default" });
          } else {
            index.imports.set(s.local.value, { source: item.source.value, imported: "*" });
          }
        }
        break;
      case "ExportDeclaration":
        declare(item, true);
        break;
      case "ExportNamedDeclaration":
        if (item.typeOnly) break;
        for (const s of item.specifiers) {
          if (s.type !== "ExportSpecifier" || s.isTypeOnly) continue;
          const orig = s.orig.type === "Identifier" ? s.orig.value : s.orig.value;
          const exported = s.exported ? (s.exported.type === "Identifier" ? s.exported.value : s.exported.value) : orig;
          index.exports.set(exported, item.source ? { source: item.source.value, imported: orig } : { local: orig });
        }
        break;
      case "ExportAllDeclaration":
        index.starExports.push(item.source.value);
        break;
      case "ExportDefaultExpression":
        if (isActionCall(item.expression, index.imports, module.file)) {
          index.actions.set("*default*", actionCallName(unwrap(item.expression) as CallExpression, module) ?? null);
          index.exports.set("default", { local: "*default*" });
        }
        break;
      default:
        declare(item, false);
    }
  }
  indexCache.set(module, index);
  return index;
}

/**
 * What `exported` of `file` refers to, following re-exports, as `find` reads it from the module
 * that declares it; undefined when it is not such a thing.
 */
function exportedBinding<T>(file: string, exported: string, find: (index: ModuleIndex, local: string) => T | undefined, depth = 0): T | undefined {
  if (depth > 8) return undefined;
  let module: SourceFile;
  try {
    module = sourceLoad(file);
  } catch {
    return undefined;
  }
  const index = moduleIndex(module);
  const target = index.exports.get(exported);
  if (target) {
    if ("local" in target) {
      const found = find(index, target.local);
      if (found !== undefined) return found;
      const imp = index.imports.get(target.local);
      if (imp) {
        const f = resolveSpecifier(imp.source, file);
        return f ? exportedBinding(f, imp.imported, find, depth + 1) : undefined;
      }
      return undefined;
    }
    const f = resolveSpecifier(target.source, file);
    return f ? exportedBinding(f, target.imported, find, depth + 1) : undefined;
  }
  for (const star of index.starExports) {
    const f = resolveSpecifier(star, file);
    const found = f ? exportedBinding(f, exported, find, depth + 1) : undefined;
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The registered action name `exported` of `file` is: `null` for an action whose name is unknown statically. */
function exportedAction(file: string, exported: string): string | null | undefined {
  return exportedBinding(file, exported, (index, local) => (index.actions.has(local) ? index.actions.get(local)! : undefined));
}

/** The registered workflow name `exported` of `file` is, if it is a workflow class. */
function exportedWorkflow(file: string, exported: string): string | undefined {
  return exportedBinding(file, exported, (index, local) => index.workflows.get(local));
}

/** What a module-level name means, from the workflow module's source. */
export function moduleBinding(module: SourceFile, name: string): ModuleBinding | undefined {
  const index = moduleIndex(module);
  if (index.actions.has(name)) {
    const registered = index.actions.get(name);
    return { kind: "action", name: registered ?? name };
  }
  const imp = index.imports.get(name);
  if (imp) {
    if (isWaymarkSource(imp.source, module.file)) return { kind: "waymark", name: imp.imported };
    if (TIMERS_SOURCES.has(imp.source)) return { kind: "timers", name: imp.imported };
    const file = resolveSpecifier(imp.source, module.file);
    if (imp.imported === "*") return { kind: "namespace", file, source: imp.source };
    if (file) {
      const registered = exportedAction(file, imp.imported);
      if (registered !== undefined) return { kind: "action", name: registered ?? imp.imported };
      const wf = exportedWorkflow(file, imp.imported);
      if (wf !== undefined) return { kind: "workflow", name: wf };
    }
    return { kind: "import", source: imp.source, imported: imp.imported };
  }
  const wf = index.workflows.get(name);
  if (wf !== undefined) return { kind: "workflow", name: wf };
  const local = index.locals.get(name);
  if (local) return { kind: "local", what: local, init: index.consts.get(name) };
  return undefined;
}

/** The workflow class `ns.member` is, for `import * as ns from "..."`. */
export function namespaceWorkflow(binding: { file: string | undefined }, member: string): string | undefined {
  return binding.file ? exportedWorkflow(binding.file, member) : undefined;
}

/** `ns.member` for `import * as ns from "..."`. */
export function namespaceMember(binding: { file: string | undefined }, member: string): string | null | undefined {
  return binding.file ? exportedAction(binding.file, member) : undefined;
}
