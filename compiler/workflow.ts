/**
 * The compiler's entry: finds the workflow class in its module's source (or, with no readable
 * file, in the class's own text), compiles `run()` and each helper method it calls once (looked up
 * through the superclass chain, across modules), reads the action defaults, and names the IR by
 * its hash, which is the version. Whatever goes into the IR changes the version: the source file
 * and absolute lines stay out of it.
 */
import { createHash } from "node:crypto";
import type { Class, ClassMethod, Node, Span } from "@swc/core";
import { UnsupportedPatternError } from "../core/errors.js";
import { spanOf, WorkflowContext, type MethodSource } from "./context.js";
import { workflowDefaults } from "./defaults.js";
import { FnCompiler } from "./function.js";
import { IR_FORMAT, type WorkflowIR } from "../core/ir.js";
import { moduleBinding, resolveSpecifier, type ActionLookup } from "./resolve.js";
import { RULES } from "./rules.js";
import { callerFile, sourceLoad, sourceParse, type SourceFile } from "./source.js";

export interface CompiledWorkflow {
  ir: WorkflowIR;
  hash: string;
  /** Where the class was compiled from (not part of the hash). */
  source: { file: string; line: number };
}

type ClassNode = Class & { span: Span };

/** Finds a class by name anywhere in a module: declarations, `const X = class ...`, `workflow(class X ...)`. */
function findClass(module: SourceFile, name: string): ClassNode | undefined {
  let found: ClassNode | undefined;
  const visit = (n: unknown, assignedName?: string): void => {
    if (found || !n || typeof n !== "object") return;
    if (Array.isArray(n)) {
      for (const x of n) visit(x);
      return;
    }
    const node = n as { type?: string; identifier?: { value: string } | null; id?: { type: string; value: string }; init?: unknown };
    if (
      (node.type === "ClassDeclaration" || node.type === "ClassExpression") &&
      (node.identifier?.value === name || (!node.identifier && assignedName === name))
    ) {
      found = node as unknown as ClassNode;
      return;
    }
    if (node.type === "VariableDeclarator" && node.id?.type === "Identifier") {
      visit(node.init, node.id.value);
      return;
    }
    for (const [k, v] of Object.entries(node)) if (k !== "span" && v && typeof v === "object") visit(v, assignedName);
  };
  visit(module.ast.body);
  return found;
}

/** An instance property declared in a class body (`retry = ...`), for error locations. */
function propertyOf(cls: ClassNode, name: string): Node | undefined {
  for (const m of cls.body) {
    if (m.type === "ClassProperty" && !m.isStatic && m.key.type === "Identifier" && m.key.value === name) return m;
  }
  return undefined;
}

function methodOf(cls: ClassNode, name: string): ClassMethod | undefined {
  for (const m of cls.body) {
    if (m.type === "ClassMethod" && !m.isStatic && m.kind === "method" && m.key.type === "Identifier" && m.key.value === name) return m;
  }
  return undefined;
}

/** The superclass node, following an identifier into the module that declares or exports it. */
function superClassOf(cls: ClassNode, module: SourceFile): { cls: ClassNode; module: SourceFile } | undefined {
  const sup = cls.superClass;
  if (sup?.type !== "Identifier") return undefined;
  const b = moduleBinding(module, sup.value);
  if (b?.kind === "waymark") return undefined;
  if (!b || b.kind === "local") {
    const local = findClass(module, sup.value);
    return local ? { cls: local, module } : undefined;
  }
  if (b.kind === "import") {
    const file = resolveSpecifier(b.source, module.file);
    if (!file) return undefined;
    const target = sourceLoad(file);
    const found = findClass(target, b.imported === "default" ? sup.value : b.imported);
    return found ? { cls: found, module: target } : undefined;
  }
  return undefined;
}

/** Compiles a helper method (once) and returns its function index. */
export function compileHelper(ctx: WorkflowContext, name: string, callNode: Node & { span: Span }, callModule: SourceFile): number {
  if (ctx.helperStack.includes(name) || name === "run") {
    return ctx.fail(callModule, callNode, RULES.recursion, `${[...ctx.helperStack, name].join(" -> ")}`);
  }
  const existing = ctx.helpers.get(name);
  if (existing !== undefined) return existing;
  const found = ctx.findMethod(name);
  if (!found) return ctx.fail(callModule, callNode, RULES.unknownCallee, `\`this.${name}\` is not a method of the workflow class`);
  const index = ctx.fns.length;
  ctx.fns.push(null as never);
  ctx.helpers.set(name, index);
  ctx.helperStack.push(name);
  try {
    ctx.fns[index] = compileMethod(ctx, found, index, name);
  } finally {
    ctx.helperStack.pop();
  }
  return index;
}

function compileMethod(ctx: WorkflowContext, found: MethodSource, index: number, name: string) {
  const fn = found.method.function;
  if (fn.generator) ctx.fail(found.module, found.method, RULES.generator);
  if (!fn.body) ctx.fail(found.module, found.method, RULES.unsupportedSyntax, "a method without a body");
  const fc = new FnCompiler(ctx, found.module, index, fn.async, null);
  const params = fc.params(fn.params.map((p) => p.pat));
  fc.body(fn.body!.stmts);
  return fc.finish(name, params, false, ctx.pos(found.module, found.method));
}

export interface CompileInput {
  /** The class as defined (before the decorator replaced it). */
  cls: abstract new (
    ...args: never[]
  ) => unknown;
  workflowName: string;
  lookup: ActionLookup;
  /** The file that declared the class; found from the call stack when omitted. */
  file?: string;
}

function hashIR(ir: WorkflowIR): string {
  return createHash("sha256").update(JSON.stringify(ir)).digest("hex").slice(0, 32);
}

/**
 * Compiles a workflow class's `run()` (and the helpers it calls) to IR. Throws
 * UnsupportedPatternError for anything outside the supported language.
 */
export function compileWorkflow(input: CompileInput): CompiledWorkflow {
  const className = input.cls.name;
  let module: SourceFile | undefined;
  let classNode: ClassNode | undefined;
  const file = input.file ?? callerFile();
  if (file) {
    try {
      module = sourceLoad(file);
      classNode = findClass(module, className);
    } catch (e) {
      if (e instanceof UnsupportedPatternError) throw e;
      module = undefined;
    }
  }
  if (!module || !classNode) {
    // No readable source file (bundled or eval'd code): compile the class's own text.
    const text = Function.prototype.toString.call(input.cls);
    const fallbackFile = file ?? `<${className}>`;
    try {
      module = sourceParse(fallbackFile, `(${text});`);
    } catch {
      throw new UnsupportedPatternError({
        rule: RULES.sourceUnavailable.id,
        message: `${RULES.sourceUnavailable.message} for workflow ${input.workflowName}`,
        hint: RULES.sourceUnavailable.hint,
        location: { file: fallbackFile, line: 1, column: 1 },
      });
    }
    classNode = findClass(module, className);
    if (!classNode) {
      throw new UnsupportedPatternError({
        rule: RULES.sourceUnavailable.id,
        message: `${RULES.sourceUnavailable.message}: class ${className} was not found in ${fallbackFile}`,
        hint: RULES.sourceUnavailable.hint,
        location: { file: fallbackFile, line: 1, column: 1 },
      });
    }
  }

  const rootModule = module;
  const rootClass = classNode;
  const findMethod = (name: string): MethodSource | undefined => {
    let cur: { cls: ClassNode; module: SourceFile } | undefined = { cls: rootClass, module: rootModule };
    for (let depth = 0; cur && depth < 16; depth++) {
      const m = methodOf(cur.cls, name);
      if (m) return { method: m, module: cur.module };
      cur = superClassOf(cur.cls, cur.module);
    }
    return undefined;
  };
  const ctx = new WorkflowContext(input.workflowName, rootModule, rootClass, input.lookup, findMethod);
  const run = findMethod("run");
  if (!run) return ctx.fail(rootModule, rootClass, RULES.missingRun);
  if (!run.method.function.async) ctx.fail(run.module, run.method, RULES.missingRun, "run() must be async");
  ctx.fns.push(null as never);
  ctx.helperStack.push("run");
  ctx.fns[0] = compileMethod(ctx, run, 0, "run");
  ctx.helperStack.pop();

  const where = (field: string): string | undefined => {
    let cur: { cls: ClassNode; module: SourceFile } | undefined = { cls: rootClass, module: rootModule };
    for (let depth = 0; cur && depth < 16; depth++) {
      const p = propertyOf(cur.cls, field);
      if (p) {
        const { line, column } = cur.module.loc(spanOf(p).start);
        return `${cur.module.file}:${line}:${column}`;
      }
      cur = superClassOf(cur.cls, cur.module);
    }
    return undefined;
  };
  const defaults = workflowDefaults(input.cls, input.workflowName, where);
  const ir: WorkflowIR = { format: IR_FORMAT, name: input.workflowName, fns: ctx.fns };
  // Only when declared: the hash of a workflow without defaults is what it always was.
  if (defaults) ir.defaults = defaults;
  if (ctx.children.size) ir.children = [...ctx.children].sort();
  return { ir, hash: hashIR(ir), source: { file: rootModule.file, line: ctx.baseLine } };
}
