/**
 * The compiler of one function: FnCompiler holds what is being built (code, scopes, temporaries,
 * jump targets) and compiles statements; expressions, patterns and loops are compiled in their own
 * modules, each taking the FnCompiler as its first argument. A jump records the handler,
 * completion and environment depths of its target, so code that opens or closes a try region or a
 * block environment must keep those counters in step with what it emits.
 */
import type { BlockStatement, Expression, Node, Pattern, Span, Statement, VariableDeclaration } from "@swc/core";
import { arrayPatternText, callSiteText, operandText, unwrapTs } from "./callsite.js";
import type { WorkflowContext } from "./context.js";
import { compileDoWhile, compileFor, compileForOf, compileSwitch, compileTry, compileWhile } from "./control.js";
import { awaitArgument, compileExpr, spillable } from "./expression.js";
import type { Expr, FnIR, Instr, Pat, Pos } from "../core/ir.js";
import { builtInSource } from "./names.js";
import { compilePattern, declarePatternNames, labelPattern, lexicalNames } from "./pattern.js";
import { RULES } from "./rules.js";
import { capturedByArrow, FnSlots, Scope, type BindingKind } from "./scope.js";
import type { SourceFile } from "./source.js";

export interface JumpTarget {
  label: string | undefined;
  /** Loops accept `continue`; labeled blocks and switches only `break`. */
  kind: "loop" | "switch" | "block";
  breaks: number[];
  continues: number[];
  handlerDepth: number;
  completionDepth: number;
  /** Block environment depth at the break target, and at the continue target. */
  depth: number;
  cdepth: number;
}

const LOOPS = new Set(["ForStatement", "ForOfStatement", "ForInStatement", "WhileStatement", "DoWhileStatement"]);

/**
 * Compiles one function (run, a helper method, or an arrow function) to a flat instruction
 * list. Structured control flow becomes jumps (loops, switch and try in control.ts);
 * try/finally and labeled break/continue across try regions or block environments become
 * `try`/`untry`/`fin`/`leave` instructions, with the depths counted here: handlers, pending
 * finally completions, and block environments (entered only for blocks whose bindings an arrow
 * function captures).
 */
export class FnCompiler {
  readonly code: Instr[] = [];
  readonly slots: FnSlots;
  scope: Scope;
  targets: JumpTarget[] = [];
  pendingLabels: string[] = [];
  handlerDepth = 0;
  completionDepth = 0;
  /** Block environments entered at this point of the code. */
  envDepth = 0;

  constructor(
    readonly ctx: WorkflowContext,
    readonly module: SourceFile,
    readonly fnId: number,
    readonly isAsync: boolean,
    readonly parentScope: Scope | null,
  ) {
    this.slots = new FnSlots();
    this.scope = new Scope(parentScope, fnId, this.slots, true);
  }

  pos(node: object): Pos {
    return this.ctx.pos(this.module, node);
  }

  nodeId(kind: string, node: object): string {
    const [line, column] = this.pos(node);
    return `${kind}@${line}:${column}`;
  }

  fail(node: object, rule: Parameters<WorkflowContext["fail"]>[2], detail?: string): never {
    return this.ctx.fail(this.module, node, rule, detail);
  }

  emit(instr: Instr): number {
    this.code.push(instr);
    return this.code.length - 1;
  }

  here(): number {
    return this.code.length;
  }

  /** Points the jump at `at` to `to`. */
  patch(at: number, to: number): void {
    const instr = this.code[at]!;
    if (instr.op === "jmp" || instr.op === "jf" || instr.op === "leave" || instr.op === "next") instr.to = to;
    else throw new Error(`internal: cannot patch ${instr.op}`);
  }

  temp(): string {
    return this.slots.temp();
  }

  /** Stores `e` in a fresh temporary and returns a reference to it. */
  spill(e: Expr, at: Pos): Expr {
    if (!spillable(e)) return e;
    const n = this.temp();
    this.emit({ op: "bind", p: { k: "id", n }, e, at });
    return { k: "var", n };
  }

  /** Compiles `fn` in a new scope; `ownsEnv` when the caller emits `enter`/`exit` around it. */
  withScope<T>(fn: () => T, ownsEnv = false): T {
    const saved = this.scope;
    this.scope = new Scope(saved, this.fnId, this.slots, ownsEnv);
    try {
      return fn();
    } finally {
      this.scope = saved;
    }
  }

  enterEnv(): void {
    this.emit({ op: "enter" });
    this.envDepth++;
  }

  exitEnv(): void {
    this.emit({ op: "exit" });
    this.envDepth--;
  }

  /** Compiles a function body: hoists `var`s, then the statements, then an implicit `return`. */
  body(stmts: Statement[], paramsDone = true): void {
    void paramsDone;
    this.hoistVars(stmts);
    this.hoistLexical(stmts);
    for (const s of stmts) this.stmt(s);
    const last = this.code.at(-1);
    if (last?.op !== "ret" || this.hasJumpTo(this.code.length)) this.emit({ op: "ret", e: null, at: [0, 0] });
  }

  private hasJumpTo(pc: number): boolean {
    return this.code.some((i) =>
      i.op === "jmp" || i.op === "jf" || i.op === "leave" || i.op === "next" ? i.to === pc : i.op === "try" ? i.c === pc || i.f === pc : false,
    );
  }

  /** `var` declarations are function-scoped: declare them before anything runs. */
  private hoistVars(stmts: Statement[]): void {
    const visit = (n: unknown): void => {
      if (!n || typeof n !== "object") return;
      if (Array.isArray(n)) {
        for (const x of n) visit(x);
        return;
      }
      const node = n as { type?: string };
      if (node.type === "ArrowFunctionExpression" || node.type === "FunctionExpression" || node.type === "FunctionDeclaration" || node.type === "ClassMethod")
        return;
      if (node.type === "VariableDeclaration" && (node as VariableDeclaration).kind === "var") {
        for (const d of (node as VariableDeclaration).declarations) {
          for (const name of declarePatternNames(d.id)) {
            if (!this.scope.vars.has(name)) {
              const b = this.scope.declare(name, "var");
              this.emit({ op: "bind", p: { k: "id", n: b.slot }, e: { k: "lit", v: { $w: "u" } }, at: [0, 0] });
            }
          }
        }
      }
      for (const [k, v] of Object.entries(node)) if (k !== "span" && typeof v === "object") visit(v);
    };
    visit(stmts);
  }

  /** let/const are visible (in their temporal dead zone) from the start of their block. */
  hoistLexical(stmts: Statement[]): void {
    for (const s of stmts) {
      if (s.type === "VariableDeclaration" && s.kind !== "var") {
        for (const d of s.declarations) for (const name of declarePatternNames(d.id)) this.scope.declare(name, s.kind as BindingKind);
      }
    }
  }

  private loopTarget(label: string | undefined, kind: JumpTarget["kind"]): JumpTarget {
    return {
      label,
      kind,
      breaks: [],
      continues: [],
      handlerDepth: this.handlerDepth,
      completionDepth: this.completionDepth,
      depth: this.envDepth,
      cdepth: this.envDepth,
    };
  }

  takeLabels(): string[] {
    const labels = this.pendingLabels;
    this.pendingLabels = [];
    return labels;
  }

  /** Runs `body` with a jump target for each pending label (and an unlabeled one). */
  withTarget(kind: JumpTarget["kind"], body: (t: JumpTarget) => void): JumpTarget {
    const labels = this.takeLabels();
    const target = this.loopTarget(labels[0], kind);
    const extra = labels.slice(1).map((l) => ({ ...target, label: l }));
    // Extra labels on the same statement share the patch lists.
    for (const e of extra) {
      e.breaks = target.breaks;
      e.continues = target.continues;
    }
    this.targets.push(target, ...extra);
    try {
      body(target);
    } finally {
      this.targets.length -= 1 + extra.length;
    }
    return target;
  }

  private jumpOut(target: JumpTarget, isBreak: boolean): void {
    const n = this.handlerDepth - target.handlerDepth;
    const c = this.completionDepth - target.completionDepth;
    const d = isBreak ? target.depth : target.cdepth;
    const list = isBreak ? target.breaks : target.continues;
    list.push(n === 0 && c === 0 && d === this.envDepth ? this.emit({ op: "jmp", to: -1 }) : this.emit({ op: "leave", to: -1, n, c, d }));
  }

  stmt(s: Statement): void {
    switch (s.type) {
      case "VariableDeclaration":
        return this.varDecl(s);
      case "ExpressionStatement":
        return this.exprStmt(s.expression, s);
      case "ReturnStatement": {
        const e = s.argument ? compileExpr(this, s.argument) : null;
        this.emit({ op: "ret", e, at: this.pos(s) });
        return;
      }
      case "IfStatement": {
        const test = compileExpr(this, s.test);
        const jf = this.emit({ op: "jf", e: test, to: -1, at: this.pos(s.test) });
        this.withScope(() => this.stmt(s.consequent));
        if (s.alternate) {
          const jmp = this.emit({ op: "jmp", to: -1 });
          this.patch(jf, this.here());
          this.withScope(() => this.stmt(s.alternate!));
          this.patch(jmp, this.here());
        } else {
          this.patch(jf, this.here());
        }
        return;
      }
      case "BlockStatement":
        return this.block(s);
      case "ForOfStatement":
      case "ForInStatement":
        return compileForOf(this, s);
      case "ForStatement":
        return compileFor(this, s);
      case "WhileStatement":
        return compileWhile(this, s);
      case "DoWhileStatement":
        return compileDoWhile(this, s);
      case "BreakStatement":
      case "ContinueStatement": {
        const label = s.label?.value;
        const isBreak = s.type === "BreakStatement";
        for (let i = this.targets.length - 1; i >= 0; i--) {
          const t = this.targets[i]!;
          if (label !== undefined ? t.label === label : isBreak ? t.kind !== "block" : t.kind === "loop") {
            if (!isBreak && t.kind !== "loop") this.fail(s, RULES.unsupportedSyntax, `label ${label} is not a loop`);
            this.jumpOut(t, isBreak);
            return;
          }
        }
        return this.fail(s, RULES.unsupportedSyntax, "no enclosing statement to jump to");
      }
      case "LabeledStatement": {
        this.pendingLabels.push(s.label.value);
        if (LOOPS.has(s.body.type) || s.body.type === "LabeledStatement") return this.stmt(s.body);
        // A labeled block (or any statement): `break label` jumps past it.
        this.withTarget("block", (t) => {
          this.stmt(s.body);
          for (const b of t.breaks) this.patch(b, this.here());
        });
        return;
      }
      case "SwitchStatement":
        return compileSwitch(this, s);
      case "TryStatement":
        return compileTry(this, s);
      case "ThrowStatement":
        this.emit({ op: "throw", e: compileExpr(this, s.argument), at: this.pos(s) });
        return;
      case "EmptyStatement":
      case "DebuggerStatement":
        return;
      case "FunctionDeclaration":
        return this.fail(s, s.generator ? RULES.generator : RULES.nestedFunction);
      case "ClassDeclaration":
        return this.fail(s, RULES.classInWorkflow);
      case "WithStatement":
        return this.fail(s, RULES.withStatement);
      case "TsInterfaceDeclaration":
      case "TsTypeAliasDeclaration":
        return;
      default:
        return this.fail(s as Node & { span: Span }, RULES.unsupportedSyntax, s.type);
    }
  }

  block(s: BlockStatement): void {
    const env = capturedByArrow(s.stmts, lexicalNames(s.stmts));
    this.withScope(() => {
      if (env) this.enterEnv();
      this.hoistLexical(s.stmts);
      for (const x of s.stmts) this.stmt(x);
      if (env) this.exitEnv();
    }, env);
  }

  private exprStmt(expression: Expression, s: Node & { span: Span }): void {
    const e = unwrapTs(expression);
    if (e.type === "AwaitExpression") {
      this.emit({ op: "await", e: awaitArgument(this, e), p: null, at: this.pos(e), node: this.nodeId("await", e) });
      return;
    }
    // `x = await f()` and `[a, b] = await f()`: bind the awaited value straight to the target.
    if (e.type === "AssignmentExpression" && e.operator === "=" && unwrapTs(e.right).type === "AwaitExpression" && !this.targetNeedsSpill(e.left)) {
      const right = unwrapTs(e.right) as Extract<Expression, { type: "AwaitExpression" }>;
      const arg = awaitArgument(this, right);
      const p = labelPattern(compilePattern(this, e.left as Pattern, "assign"), callSiteText(right), undefined);
      this.emit({ op: "await", e: arg, p, at: this.pos(right), node: this.nodeId("await", right) });
      return;
    }
    this.emit({ op: "expr", e: compileExpr(this, expression), at: this.pos(s) });
  }

  /** Member targets (`obj[k()] = await x`) must be evaluated before the await: not the fast path. */
  private targetNeedsSpill(left: unknown): boolean {
    const t = left as { type: string };
    return t.type !== "Identifier" && t.type !== "ArrayPattern" && t.type !== "ObjectPattern" ? true : JSON.stringify(left).includes('"MemberExpression"');
  }

  varDecl(s: VariableDeclaration): void {
    const kind: BindingKind = s.kind === "var" ? "var" : (s.kind as BindingKind);
    for (const d of s.declarations) {
      const init = d.init ? unwrapTs(d.init) : undefined;
      if (init?.type === "AwaitExpression") {
        const arg = awaitArgument(this, init);
        const p = labelPattern(compilePattern(this, d.id, kind === "var" ? "assign" : "declare", kind), callSiteText(init), arrayPatternText(init));
        this.emit({ op: "await", e: arg, p, at: this.pos(init), node: this.nodeId("await", init) });
        continue;
      }
      const e: Expr | null = d.init ? (builtInSource(this, d.id, d.init) ?? compileExpr(this, d.init)) : kind === "var" ? null : { k: "lit", v: { $w: "u" } };
      const p = compilePattern(this, d.id, kind === "var" ? "assign" : "declare", kind);
      if (d.init) labelPattern(p, operandText(d.init), arrayPatternText(d.init));
      if (e) this.emit({ op: "bind", p, e, at: this.pos(d) });
    }
  }

  /** The parameter list as one array pattern (defaults and a rest element included). */
  params(list: Pattern[]): Pat {
    const items: Array<Pat | null> = [];
    let rest: Pat | null = null;
    // V8 describes the value itself when a parameter cannot be destructured.
    for (const p of list) {
      if (p.type === "RestElement") rest = compilePattern(this, p.argument, "declare", "param");
      else
        items.push(
          labelPattern(compilePattern(this, p, "declare", "param"), p.type === "AssignmentPattern" ? "(intermediate value)".repeat(3) : "#v", undefined),
        );
    }
    return { k: "arrp", items, rest };
  }

  finish(name: string, params: Pat, isArrow: boolean, pos: Pos): FnIR {
    return { name, async: this.isAsync, arrow: isArrow, params, code: this.code, pos };
  }
}
