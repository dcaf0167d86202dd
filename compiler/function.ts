import type {
  BlockStatement, Expression, ForInStatement, ForOfStatement, ForStatement, Node, Pattern, Span, Statement,
  SwitchStatement, TryStatement, VariableDeclaration,
} from "@swc/core";
import { arrayPatternText, callSiteText } from "./callsite.js";
import type { WorkflowContext } from "./context.js";
import { awaitArgument, compileExpr, spillable, unwrapTs } from "./expression.js";
import type { Expr, FnIR, Instr, Pat, Pos } from "./ir.js";
import { compilePattern, declarePatternNames } from "./pattern.js";
import { RULES } from "./rules.js";
import { capturedByArrow, FnSlots, Scope, type BindingKind } from "./scope.js";
import type { SourceFile } from "./source.js";

interface JumpTarget {
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

/** The names `let`/`const` declare directly in a statement list. */
function lexicalNames(stmts: Statement[]): string[] {
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
 * Compiles one function (run, a helper method, or an arrow function) to a flat instruction
 * list. Structured control flow becomes jumps; try/finally and labeled break/continue across
 * try regions become `try`/`untry`/`fin`/`leave` instructions whose depths are counted here.
 */
export class FnCompiler {
  readonly code: Instr[] = [];
  readonly slots: FnSlots;
  scope: Scope;
  private targets: JumpTarget[] = [];
  private pendingLabels: string[] = [];
  private handlerDepth = 0;
  private completionDepth = 0;
  /** Block environments entered at this point of the code. */
  private envDepth = 0;

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

  private enterEnv(): void {
    this.emit({ op: "enter" });
    this.envDepth++;
  }

  private exitEnv(): void {
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
    if (!last || last.op !== "ret" || this.hasJumpTo(this.code.length)) this.emit({ op: "ret", e: null, at: [0, 0] });
  }

  private hasJumpTo(pc: number): boolean {
    return this.code.some((i) => (i.op === "jmp" || i.op === "jf" || i.op === "leave" || i.op === "next" ? i.to === pc : i.op === "try" ? i.c === pc || i.f === pc : false));
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
      if (node.type === "ArrowFunctionExpression" || node.type === "FunctionExpression" || node.type === "FunctionDeclaration" || node.type === "ClassMethod") return;
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
    return { label, kind, breaks: [], continues: [], handlerDepth: this.handlerDepth, completionDepth: this.completionDepth, depth: this.envDepth, cdepth: this.envDepth };
  }

  private takeLabels(): string[] {
    const labels = this.pendingLabels;
    this.pendingLabels = [];
    return labels;
  }

  /** Runs `body` with a jump target for each pending label (and an unlabeled one). */
  private withTarget(kind: JumpTarget["kind"], body: (t: JumpTarget) => void): JumpTarget {
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
        return this.forOf(s);
      case "ForStatement":
        return this.forLoop(s);
      case "WhileStatement":
        this.withTarget("loop", (t) => {
          const top = this.here();
          const jf = this.emit({ op: "jf", e: compileExpr(this, s.test), to: -1, at: this.pos(s.test) });
          this.withScope(() => this.stmt(s.body));
          this.emit({ op: "jmp", to: top });
          const end = this.here();
          this.patch(jf, end);
          for (const c of t.continues) this.patch(c, top);
          for (const b of t.breaks) this.patch(b, end);
        });
        return;
      case "DoWhileStatement":
        this.withTarget("loop", (t) => {
          const top = this.here();
          this.withScope(() => this.stmt(s.body));
          const testAt = this.here();
          const jf = this.emit({ op: "jf", e: compileExpr(this, s.test), to: -1, at: this.pos(s.test) });
          this.emit({ op: "jmp", to: top });
          const end = this.here();
          this.patch(jf, end);
          for (const c of t.continues) this.patch(c, testAt);
          for (const b of t.breaks) this.patch(b, end);
        });
        return;
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
        return this.switchStmt(s);
      case "TryStatement":
        return this.tryStmt(s);
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

  private varDecl(s: VariableDeclaration): void {
    const kind: BindingKind = s.kind === "var" ? "var" : (s.kind as BindingKind);
    for (const d of s.declarations) {
      const init = d.init ? unwrapTs(d.init) : undefined;
      if (init?.type === "AwaitExpression") {
        const arg = awaitArgument(this, init);
        const p = labelPattern(compilePattern(this, d.id, kind === "var" ? "assign" : "declare", kind), callSiteText(init), arrayPatternText(init));
        this.emit({ op: "await", e: arg, p, at: this.pos(init), node: this.nodeId("await", init) });
        continue;
      }
      const e: Expr | null = d.init ? compileExpr(this, d.init) : kind === "var" ? null : { k: "lit", v: { $w: "u" } };
      const p = compilePattern(this, d.id, kind === "var" ? "assign" : "declare", kind);
      if (d.init) labelPattern(p, callSiteText(d.init), arrayPatternText(d.init));
      if (e) this.emit({ op: "bind", p, e, at: this.pos(d) });
    }
  }

  private forOf(s: ForOfStatement | ForInStatement): void {
    if (s.type === "ForOfStatement" && (s as { await?: unknown }).await) this.fail(s, RULES.forAwait);
    this.withTarget("loop", (t) => {
      const iterable = compileExpr(this, s.right);
      const v = this.slots.temp("it");
      const iter: Instr = s.type === "ForInStatement"
        ? { op: "iter", e: { k: "call", f: { k: "global", path: "#forInKeys" }, args: [iterable] }, v, at: this.pos(s.right) }
        : { op: "iter", e: iterable, v, at: this.pos(s.right), t: callSiteText(s.right) };
      this.emit(iter);
      const decl = s.left.type === "VariableDeclaration" ? s.left : undefined;
      const names = decl && decl.kind !== "var" ? declarePatternNames(decl.declarations[0]!.id) : [];
      // Each iteration binds `const x` afresh: an environment per iteration when a closure captures it.
      const env = capturedByArrow([s.left, s.body], names);
      this.withScope(() => {
        const top = this.here();
        if (env) this.enterEnv();
        let p: Pat;
        if (decl) {
          const kind = decl.kind as BindingKind;
          p = compilePattern(this, decl.declarations[0]!.id, kind === "var" ? "assign" : "declare", kind);
        } else {
          p = compilePattern(this, s.left as Pattern, "assign");
        }
        labelPattern(p, ".for", ".for");
        const next = this.emit(env ? { op: "next", v, u: 1, p, to: -1 } : { op: "next", v, p, to: -1 });
        this.withScope(() => this.stmt(s.body));
        if (env) this.exitEnv();
        this.emit({ op: "jmp", to: top });
        this.patch(next, this.here());
        if (env) this.emit({ op: "exit" }); // the done path leaves the iteration's environment too
        const end = this.here();
        for (const c of t.continues) this.patch(c, top);
        for (const b of t.breaks) this.patch(b, end);
      }, env);
    });
  }

  private forLoop(s: ForStatement): void {
    const decl = s.init?.type === "VariableDeclaration" && s.init.kind !== "var" ? s.init : undefined;
    const names = decl ? decl.declarations.flatMap((d) => declarePatternNames(d.id)) : [];
    // `for (let i ...)` gives each iteration its own copy of `i`: a closure must see its iteration's.
    const env = capturedByArrow([s.init, s.test, s.update, s.body], names);
    this.withTarget("loop", (t) => {
      this.withScope(() => {
        if (env) this.enterEnv();
        if (s.init) {
          if (s.init.type === "VariableDeclaration") {
            this.hoistLexical([s.init]);
            this.varDecl(s.init);
          } else this.emit({ op: "expr", e: compileExpr(this, s.init), at: this.pos(s.init) });
        }
        if (env) this.emit({ op: "renew" });
        t.cdepth = this.envDepth;
        const top = this.here();
        const jf = s.test ? this.emit({ op: "jf", e: compileExpr(this, s.test), to: -1, at: this.pos(s.test) }) : -1;
        this.withScope(() => this.stmt(s.body));
        const update = this.here();
        if (env) this.emit({ op: "renew" });
        if (s.update) this.emit({ op: "expr", e: compileExpr(this, s.update), at: this.pos(s.update) });
        this.emit({ op: "jmp", to: top });
        if (jf >= 0) this.patch(jf, this.here());
        if (env) this.exitEnv();
        const end = this.here();
        for (const c of t.continues) this.patch(c, update);
        for (const b of t.breaks) this.patch(b, end);
      }, env);
    });
  }

  private switchStmt(s: SwitchStatement): void {
    const env = capturedByArrow(s.cases, s.cases.flatMap((c) => lexicalNames(c.consequent)));
    this.withTarget("switch", (t) => {
      let d = this.spill(compileExpr(this, s.discriminant), this.pos(s.discriminant));
      this.withScope(() => {
        if (env) {
          this.enterEnv();
          // The discriminant's temporary lives in the environment outside the switch block.
          if (d.k === "var") d = { ...d, up: (d.up ?? 0) + 1 };
        }
        for (const c of s.cases) this.hoistLexical(c.consequent);
        const toBody: Array<{ at: number; index: number }> = [];
        for (let i = 0; i < s.cases.length; i++) {
          const c = s.cases[i]!;
          if (!c.test) continue;
          const test: Expr = { k: "bin", op: "===", l: d, r: compileExpr(this, c.test) };
          const jf = this.emit({ op: "jf", e: test, to: -1, at: this.pos(c.test) });
          toBody.push({ at: this.emit({ op: "jmp", to: -1 }), index: i });
          this.patch(jf, this.here());
        }
        const defaultIndex = s.cases.findIndex((c) => !c.test);
        const fallback = this.emit({ op: "jmp", to: -1 });
        const starts: number[] = [];
        for (const c of s.cases) {
          starts.push(this.here());
          for (const x of c.consequent) this.stmt(x);
        }
        const exitAt = this.here();
        if (env) this.exitEnv();
        const end = this.here();
        for (const j of toBody) this.patch(j.at, starts[j.index]!);
        this.patch(fallback, defaultIndex >= 0 ? starts[defaultIndex]! : exitAt);
        for (const b of t.breaks) this.patch(b, end);
      }, env);
    });
  }

  private tryStmt(s: TryStatement): void {
    const labels = this.takeLabels();
    const run = () => {
      const tryAt = this.emit({ op: "try", c: null, f: null, p: null });
      this.handlerDepth++;
      this.block(s.block);
      this.handlerDepth--;
      this.emit({ op: "untry" });
      const afterTry = this.emit({ op: "jmp", to: -1 });
      const instr = this.code[tryAt] as Extract<Instr, { op: "try" }>;
      const toEnd: number[] = [afterTry];
      if (s.handler) {
        instr.c = this.here();
        const handler = s.handler;
        const param = handler.param;
        const env = capturedByArrow([param, handler.body], declarePatternNames(param));
        this.withScope(() => {
          if (param && env) {
            // The machine binds the error where the try was; the catch block's own
            // environment takes it from there.
            const caught = this.temp();
            instr.p = { k: "id", n: caught };
            this.enterEnv();
            const p = labelPattern(compilePattern(this, param, "declare", "let"), ".catch", undefined);
            this.emit({ op: "bind", p, e: { k: "var", n: caught, up: 1 }, at: this.pos(param) });
          } else if (param) instr.p = labelPattern(compilePattern(this, param, "declare", "let"), ".catch", undefined);
          if (s.finalizer) this.handlerDepth++;
          this.block(handler.body);
          if (env) this.exitEnv();
          if (s.finalizer) {
            this.handlerDepth--;
            this.emit({ op: "untry" });
          }
        }, env);
        toEnd.push(this.emit({ op: "jmp", to: -1 }));
      }
      if (s.finalizer) {
        instr.f = this.here();
        this.completionDepth++;
        this.block(s.finalizer);
        this.completionDepth--;
        this.emit({ op: "fin" });
        // Normal completions of the try and catch blocks enter the finally block.
        for (const j of toEnd) this.patch(j, instr.f);
      } else {
        for (const j of toEnd) this.patch(j, this.here());
      }
    };
    if (labels.length) {
      this.pendingLabels = labels;
      this.withTarget("block", (t) => {
        run();
        for (const b of t.breaks) this.patch(b, this.here());
      });
    } else run();
  }

  /** The parameter list as one array pattern (defaults and a rest element included). */
  params(list: Pattern[]): Pat {
    const items: Array<Pat | null> = [];
    let rest: Pat | null = null;
    // V8 describes the value itself when a parameter cannot be destructured.
    for (const p of list) {
      if (p.type === "RestElement") rest = compilePattern(this, p.argument, "declare", "param");
      else items.push(labelPattern(compilePattern(this, p, "declare", "param"), p.type === "AssignmentPattern" ? "(intermediate value)".repeat(3) : "#v", undefined));
    }
    return { k: "arrp", items, rest };
  }

  finish(name: string, params: Pat, isArrow: boolean, pos: Pos): FnIR {
    return { name, async: this.isAsync, arrow: isArrow, params, code: this.code, pos };
  }
}
