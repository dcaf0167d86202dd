/**
 * What each instruction does, for one fiber at a time (the Machine decides which fiber runs).
 * A fiber that waits stays on its `await` with `pc` unchanged and finishes that instruction when
 * it is resumed with the outcome in `f.resume`, so between two steps its whole position is data
 * that a snapshot can hold.
 */
import type { Instr } from "../core/ir.js";
import { bind, iterate } from "./bind.js";
import { evaluate, lookup } from "./evaluate.js";
import type { Machine } from "./machine.js";
import { Env, type Fiber, IteratorFace, LiveIter, MachineFault, PromiseFace } from "./values.js";

/**
 * Executes one fiber's instructions until it waits ("blocked"), its function ends ("done"), or,
 * for a fiber the machine runs at the top (not a callback inside an expression), until its slice
 * of steps is used up ("yield": it continues from the same instruction on the next run):
 * expressions, jumps, awaits, and the unwinding of try/catch/finally, of break/continue through
 * finally blocks, and of block environments. Every instruction counts against the step limit.
 */
export function step(m: Machine, f: Fiber, done: (ok: boolean, v: unknown) => void): "blocked" | "done" | "yield" {
  const outer = m.cur;
  m.cur = f;
  m.depth++;
  try {
    return run(m, f, done);
  } finally {
    m.cur = outer;
    m.depth--;
  }
}

function run(m: Machine, f: Fiber, done: (ok: boolean, v: unknown) => void): "blocked" | "done" | "yield" {
  const code = m.ir.fns[f.fn]!.code;
  for (;;) {
    const ins = code[f.pc];
    if (!ins) throw new MachineFault(`pc ${f.pc} out of range in ${m.ir.fns[f.fn]!.name}`);
    if (++m.steps >= m.checkAt && m.checkpoint(f)) return "yield";
    try {
      switch (ins.op) {
        case "expr":
          evaluate(m, ins.e, f.env);
          f.pc++;
          break;
        case "bind":
          bind(m, ins.p, ins.e ? evaluate(m, ins.e, f.env) : undefined, f.env);
          f.pc++;
          break;
        case "await": {
          if (f.resume) {
            const r = f.resume;
            f.resume = null;
            if (!r.ok) throw r.v;
            if (ins.p) bind(m, ins.p, r.v, f.env);
            f.pc++;
            break;
          }
          const value = evaluate(m, ins.e, f.env);
          const v = PromiseFace.handleOf(value);
          if (v) {
            v.handled = true;
            if (v.state === "pending") {
              f.wait = v;
              v.waiters.push(f.id);
              if (!f.handle) throw new MachineFault("a synchronous function awaited");
              return "blocked";
            }
            if (v.state === "err") throw v.value;
            if (ins.p) bind(m, ins.p, v.value, f.env);
          } else if (ins.p) bind(m, ins.p, value, f.env);
          f.pc++;
          break;
        }
        case "jmp":
          f.pc = ins.to;
          break;
        case "jf":
          f.pc = evaluate(m, ins.e, f.env) ? f.pc + 1 : ins.to;
          break;
        case "ret": {
          const v = ins.e ? evaluate(m, ins.e, f.env) : undefined;
          if (!unwindReturn(m, f, v)) {
            done(true, v);
            return "done";
          }
          break;
        }
        case "throw":
          throw evaluate(m, ins.e, f.env);
        case "try":
          f.hs.push({ c: ins.c, f: ins.f, at: f.pc, cd: f.cs.length, ed: f.ed });
          f.pc++;
          break;
        case "untry": {
          const h = f.hs.pop();
          if (!h) throw new MachineFault("untry without a handler");
          if (h.f !== null) f.cs.push({ t: "n" });
          f.pc++;
          break;
        }
        case "fin": {
          const c = f.cs.pop();
          if (!c) throw new MachineFault("finally without a completion");
          if (c.t === "n") f.pc++;
          else if (c.t === "r") {
            if (!unwindReturn(m, f, c.v)) {
              done(true, c.v);
              return "done";
            }
          } else if (c.t === "t") throw c.v;
          else leave(m, f, c.to!, c.n!, 0, c.d ?? f.ed);
          break;
        }
        case "leave":
          leave(m, f, ins.to, ins.n, ins.c, ins.d);
          break;
        case "iter": {
          const v = evaluate(m, ins.e, f.env);
          // A held iterator is consumed item by item, as natively (a `break` leaves the rest).
          f.env.vars[ins.v] = v instanceof Map || v instanceof Set ? new LiveIter(v) : IteratorFace.inner(v) ? v : { a: iterate(v, ins.t), i: 0 };
          f.pc++;
          break;
        }
        case "next": {
          // Arrays are iterated by index, live, as natively; other iterables were copied at `iter`.
          const it = lookup(f.env, ins.v, ins.u).vars[ins.v] as { a: unknown[]; i: number } | LiveIter | IteratorFace;
          const r =
            it instanceof LiveIter || it instanceof IteratorFace
              ? it.next()
              : it.i < it.a.length
                ? { done: false, value: it.a[it.i++] }
                : { done: true, value: undefined };
          if (r.done) f.pc = ins.to;
          else {
            bind(m, ins.p, r.value, f.env);
            f.pc++;
          }
          break;
        }
        case "enter":
          f.env = new Env(f.env);
          f.ed++;
          f.pc++;
          break;
        case "exit":
          exitTo(m, f, f.ed - 1);
          f.pc++;
          break;
        case "renew":
          f.env = new Env(f.env.parent, Object.assign(Object.create(null) as Record<string, unknown>, f.env.vars));
          f.pc++;
          break;
        default:
          throw new MachineFault(`unknown instruction ${(ins as Instr).op}`);
      }
    } catch (e) {
      if (e instanceof MachineFault) throw e;
      // An error the host made while running workflow code (V8's TypeError) has no stack: give it the workflow's.
      if (e instanceof Error && typeof e.stack === "string" && !e.stack.includes("\n    at ")) m.located(e);
      if (!unwindThrow(m, f, e)) {
        done(false, e);
        return "done";
      }
    }
  }
}

/** Routes a thrown value to the innermost catch or finally of the fiber. */
function unwindThrow(m: Machine, f: Fiber, value: unknown): boolean {
  let thrown = value;
  while (f.hs.length) {
    const h = f.hs.pop()!;
    f.cs.length = h.cd;
    exitTo(m, f, h.ed);
    if (h.c !== null) {
      if (h.f !== null) f.hs.push({ c: null, f: h.f, at: h.at, cd: f.cs.length, ed: h.ed });
      const instr = m.ir.fns[f.fn]!.code[h.at] as Extract<Instr, { op: "try" }>;
      try {
        if (instr.p) bind(m, instr.p, thrown, f.env);
      } catch (e) {
        thrown = e;
        continue;
      }
      f.pc = h.c;
      return true;
    }
    if (h.f !== null) {
      f.cs.push({ t: "t", v: thrown });
      f.pc = h.f;
      return true;
    }
  }
  return false;
}

/** A return inside try regions runs their finally blocks first. */
function unwindReturn(m: Machine, f: Fiber, value: unknown): boolean {
  while (f.hs.length) {
    const h = f.hs.pop()!;
    if (h.f !== null) {
      f.cs.length = h.cd;
      f.cs.push({ t: "r", v: value });
      exitTo(m, f, h.ed);
      f.pc = h.f;
      return true;
    }
  }
  return false;
}

function leave(m: Machine, f: Fiber, to: number, n: number, c: number, d: number): void {
  if (c > 0) f.cs.length = Math.max(0, f.cs.length - c);
  for (let i = 0; i < n; i++) {
    const h = f.hs.pop();
    if (!h) throw new MachineFault("leave past the handler stack");
    if (h.f !== null) {
      f.cs.length = h.cd;
      f.cs.push({ t: "l", to, n: n - i - 1, d });
      exitTo(m, f, h.ed);
      f.pc = h.f;
      return;
    }
  }
  exitTo(m, f, d);
  f.pc = to;
}

/** Leaves block environments until `depth` remain. */
function exitTo(_m: Machine, f: Fiber, depth: number): void {
  while (f.ed > depth) {
    if (!f.env.parent) throw new MachineFault("exit past the function's environment");
    f.env = f.env.parent;
    f.ed--;
  }
}
