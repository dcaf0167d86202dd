/**
 * Lowering of loops, switch and try to jumps. A loop whose `let`/`const` bindings a closure
 * captures gets an environment per iteration (`enter`/`exit`, and `renew` for a `for (let ...)`
 * head); break and continue are `leave`s when they cross try regions or block environments.
 */
import type { DoWhileStatement, ForInStatement, ForOfStatement, ForStatement, Pattern, SwitchStatement, TryStatement, WhileStatement } from "@swc/core";
import { callSiteText, unwrapTs } from "./callsite.js";
import { compileExpr } from "./expression.js";
import type { FnCompiler } from "./function.js";
import type { Expr, Instr, Pat } from "../core/ir.js";
import { compilePattern, declarePatternNames, labelPattern, lexicalNames } from "./pattern.js";
import { RULES } from "./rules.js";
import { capturedByArrow, type BindingKind } from "./scope.js";

export function compileWhile(fc: FnCompiler, s: WhileStatement): void {
  fc.withTarget("loop", (t) => {
    const top = fc.here();
    const jf = fc.emit({ op: "jf", e: compileExpr(fc, s.test), to: -1, at: fc.pos(s.test) });
    fc.withScope(() => fc.stmt(s.body));
    fc.emit({ op: "jmp", to: top });
    const end = fc.here();
    fc.patch(jf, end);
    for (const c of t.continues) fc.patch(c, top);
    for (const b of t.breaks) fc.patch(b, end);
  });
}

export function compileDoWhile(fc: FnCompiler, s: DoWhileStatement): void {
  fc.withTarget("loop", (t) => {
    const top = fc.here();
    fc.withScope(() => fc.stmt(s.body));
    const testAt = fc.here();
    const jf = fc.emit({ op: "jf", e: compileExpr(fc, s.test), to: -1, at: fc.pos(s.test) });
    fc.emit({ op: "jmp", to: top });
    const end = fc.here();
    fc.patch(jf, end);
    for (const c of t.continues) fc.patch(c, testAt);
    for (const b of t.breaks) fc.patch(b, end);
  });
}

export function compileForOf(fc: FnCompiler, s: ForOfStatement | ForInStatement): void {
  if (s.type === "ForOfStatement" && (s as { await?: unknown }).await) fc.fail(s, RULES.forAwait);
  fc.withTarget("loop", (t) => {
    const iterable = compileExpr(fc, s.right);
    const v = fc.slots.temp("it");
    const iter: Instr =
      s.type === "ForInStatement"
        ? { op: "iter", e: { k: "call", f: { k: "global", path: "#forInKeys" }, args: [iterable] }, v, at: fc.pos(s.right) }
        : { op: "iter", e: iterable, v, at: fc.pos(s.right), ...(unwrapTs(s.right).type === "OptionalChainingExpression" ? {} : { t: callSiteText(s.right) }) };
    fc.emit(iter);
    const decl = s.left.type === "VariableDeclaration" ? s.left : undefined;
    const names = decl && decl.kind !== "var" ? declarePatternNames(decl.declarations[0]!.id) : [];
    // Each iteration binds `const x` afresh: an environment per iteration when a closure captures it.
    const env = capturedByArrow([s.left, s.body], names);
    fc.withScope(() => {
      const top = fc.here();
      if (env) fc.enterEnv();
      let p: Pat;
      if (decl) {
        const kind = decl.kind as BindingKind;
        p = compilePattern(fc, decl.declarations[0]!.id, kind === "var" ? "assign" : "declare", kind);
      } else {
        p = compilePattern(fc, s.left as Pattern, "assign");
      }
      labelPattern(p, ".for", ".for");
      const next = fc.emit(env ? { op: "next", v, u: 1, p, to: -1 } : { op: "next", v, p, to: -1 });
      fc.withScope(() => fc.stmt(s.body));
      if (env) fc.exitEnv();
      fc.emit({ op: "jmp", to: top });
      fc.patch(next, fc.here());
      if (env) fc.emit({ op: "exit" }); // the done path leaves the iteration's environment too
      const end = fc.here();
      for (const c of t.continues) fc.patch(c, top);
      for (const b of t.breaks) fc.patch(b, end);
    }, env);
  });
}

export function compileFor(fc: FnCompiler, s: ForStatement): void {
  const decl = s.init?.type === "VariableDeclaration" && s.init.kind !== "var" ? s.init : undefined;
  const names = decl ? decl.declarations.flatMap((d) => declarePatternNames(d.id)) : [];
  // `for (let i ...)` gives each iteration its own copy of `i`: a closure must see its iteration's.
  const env = capturedByArrow([s.init, s.test, s.update, s.body], names);
  fc.withTarget("loop", (t) => {
    fc.withScope(() => {
      if (env) fc.enterEnv();
      if (s.init) {
        if (s.init.type === "VariableDeclaration") {
          fc.hoistLexical([s.init]);
          fc.varDecl(s.init);
        } else fc.emit({ op: "expr", e: compileExpr(fc, s.init), at: fc.pos(s.init) });
      }
      if (env) fc.emit({ op: "renew" });
      t.cdepth = fc.envDepth;
      const top = fc.here();
      const jf = s.test ? fc.emit({ op: "jf", e: compileExpr(fc, s.test), to: -1, at: fc.pos(s.test) }) : -1;
      fc.withScope(() => fc.stmt(s.body));
      const update = fc.here();
      if (env) fc.emit({ op: "renew" });
      if (s.update) fc.emit({ op: "expr", e: compileExpr(fc, s.update), at: fc.pos(s.update) });
      fc.emit({ op: "jmp", to: top });
      if (jf >= 0) fc.patch(jf, fc.here());
      if (env) fc.exitEnv();
      const end = fc.here();
      for (const c of t.continues) fc.patch(c, update);
      for (const b of t.breaks) fc.patch(b, end);
    }, env);
  });
}

export function compileSwitch(fc: FnCompiler, s: SwitchStatement): void {
  const env = capturedByArrow(
    s.cases,
    s.cases.flatMap((c) => lexicalNames(c.consequent)),
  );
  fc.withTarget("switch", (t) => {
    let d = fc.spill(compileExpr(fc, s.discriminant), fc.pos(s.discriminant));
    fc.withScope(() => {
      if (env) {
        fc.enterEnv();
        // The discriminant's temporary lives in the environment outside the switch block.
        if (d.k === "var") d = { ...d, up: (d.up ?? 0) + 1 };
      }
      for (const c of s.cases) fc.hoistLexical(c.consequent);
      const toBody: Array<{ at: number; index: number }> = [];
      for (let i = 0; i < s.cases.length; i++) {
        const c = s.cases[i]!;
        if (!c.test) continue;
        const test: Expr = { k: "bin", op: "===", l: d, r: compileExpr(fc, c.test) };
        const jf = fc.emit({ op: "jf", e: test, to: -1, at: fc.pos(c.test) });
        toBody.push({ at: fc.emit({ op: "jmp", to: -1 }), index: i });
        fc.patch(jf, fc.here());
      }
      const defaultIndex = s.cases.findIndex((c) => !c.test);
      const fallback = fc.emit({ op: "jmp", to: -1 });
      const starts: number[] = [];
      for (const c of s.cases) {
        starts.push(fc.here());
        for (const x of c.consequent) fc.stmt(x);
      }
      const exitAt = fc.here();
      if (env) fc.exitEnv();
      const end = fc.here();
      for (const j of toBody) fc.patch(j.at, starts[j.index]!);
      fc.patch(fallback, defaultIndex >= 0 ? starts[defaultIndex]! : exitAt);
      for (const b of t.breaks) fc.patch(b, end);
    }, env);
  });
}

export function compileTry(fc: FnCompiler, s: TryStatement): void {
  const labels = fc.takeLabels();
  const run = () => {
    const tryAt = fc.emit({ op: "try", c: null, f: null, p: null });
    fc.handlerDepth++;
    fc.block(s.block);
    fc.handlerDepth--;
    fc.emit({ op: "untry" });
    const afterTry = fc.emit({ op: "jmp", to: -1 });
    const instr = fc.code[tryAt] as Extract<Instr, { op: "try" }>;
    const toEnd: number[] = [afterTry];
    if (s.handler) {
      instr.c = fc.here();
      const handler = s.handler;
      const param = handler.param;
      const env = capturedByArrow([param, handler.body], declarePatternNames(param));
      fc.withScope(() => {
        if (param && env) {
          // The machine binds the error where the try was; the catch block's own
          // environment takes it from there.
          const caught = fc.temp();
          instr.p = { k: "id", n: caught };
          fc.enterEnv();
          const p = labelPattern(compilePattern(fc, param, "declare", "let"), ".catch", undefined);
          fc.emit({ op: "bind", p, e: { k: "var", n: caught, up: 1 }, at: fc.pos(param) });
        } else if (param) instr.p = labelPattern(compilePattern(fc, param, "declare", "let"), ".catch", undefined);
        if (s.finalizer) fc.handlerDepth++;
        fc.block(handler.body);
        if (env) fc.exitEnv();
        if (s.finalizer) {
          fc.handlerDepth--;
          fc.emit({ op: "untry" });
        }
      }, env);
      toEnd.push(fc.emit({ op: "jmp", to: -1 }));
    }
    if (s.finalizer) {
      instr.f = fc.here();
      fc.completionDepth++;
      fc.block(s.finalizer);
      fc.completionDepth--;
      fc.emit({ op: "fin" });
      // Normal completions of the try and catch blocks enter the finally block.
      for (const j of toEnd) fc.patch(j, instr.f);
    } else {
      for (const j of toEnd) fc.patch(j, fc.here());
    }
  };
  if (labels.length) {
    fc.pendingLabels = labels;
    fc.withTarget("block", (t) => {
      run();
      for (const b of t.breaks) fc.patch(b, fc.here());
    });
  } else run();
}
