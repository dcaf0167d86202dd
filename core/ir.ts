/**
 * The workflow IR: plain JSON, hashed and stored with the workflow version.
 *
 * A workflow is a list of functions (`fns[0]` is `run`, then helper methods and arrow
 * functions). Each function is a flat list of instructions with jumps: structured control flow
 * (if, loops, switch, try/finally, labeled break) is lowered by the compiler, so the
 * interpreter's position in a function is one integer and its whole state is data that can be
 * snapshotted to Postgres between any two steps. `await` appears only as an instruction, never
 * inside an expression: the compiler lowers awaits in expressions to temporaries, keeping
 * JavaScript's evaluation order.
 *
 * Expressions are pure trees evaluated by the interpreter with JavaScript's own operators, so
 * their semantics are the native ones. Calls are restricted to what the compiler resolved:
 * actions, helper methods, closures, and the whitelisted built-ins of core/builtins.ts.
 *
 * Environments: each function activation has one environment. A block whose `let`/`const`
 * bindings are captured by an arrow function gets its own, entered and left with
 * `enter`/`exit` (so each loop iteration has fresh bindings, as in JavaScript); `renew` copies
 * a `for (let ...)` head's environment between iterations. The fiber counts the block
 * environments it is in; jumps out of blocks (`leave`) and exception handlers restore the count
 * they were compiled for.
 *
 * Texts (`t` fields) are how V8 renders the code in its error messages ("o.f is not a
 * function", "Cannot destructure property 'a' of 'x' as it is undefined."), so failures read as
 * they would natively.
 */
import type { Encoded } from "./codec.js";
import type { ActionDefaults } from "./policy.js";

export const IR_FORMAT = 2;

export interface WorkflowIR {
  format: typeof IR_FORMAT;
  name: string;
  fns: FnIR[];
  /**
   * The workflow's action defaults (its `retry`, `backoff` and `timeoutMs` instance properties),
   * validated and normalised; a `runAction` option overrides its own field. Absent when the class
   * declares none. Part of the hash.
   */
  defaults?: ActionDefaults;
  /** The child workflows it may start, by registered name: registered with it. Absent when none. */
  children?: string[];
}

/** Where a node came from: [line, column], both 1-based, relative to the workflow class. */
export type Pos = [number, number];

export interface FnIR {
  name: string;
  /** async functions run as fibers and return handles; sync ones run to completion. */
  async: boolean;
  /** Arrow functions capture the environment they were created in. */
  arrow: boolean;
  /** The parameter list, as the array pattern it behaves like: `(a, {b} = {}, ...rest)`. */
  params: Pat;
  code: Instr[];
  pos: Pos;
}

export type Instr =
  /** Evaluate for side effects. */
  | { op: "expr"; e: Expr; at: Pos }
  /** Declare (or assign, for assignment patterns) by destructuring the value of `e`. */
  | { op: "bind"; p: Pat; e: Expr | null; at: Pos }
  /** Wait for the value of `e` (a handle or a plain value), then bind it to `p` if given. */
  | { op: "await"; e: Expr; p: Pat | null; at: Pos; node: string }
  | { op: "jmp"; to: number }
  /** Jump when `e` is falsy. */
  | { op: "jf"; e: Expr; to: number; at: Pos }
  | { op: "ret"; e: Expr | null; at: Pos }
  | { op: "throw"; e: Expr; at: Pos }
  /** Enter a try region: catch at `c` (binding `p`), finally at `f`. */
  | { op: "try"; c: number | null; f: number | null; p: Pat | null }
  /** Leave a try (or catch) region normally; if it has a finally, record a normal completion. */
  | { op: "untry" }
  /** End of a finally block: resume the completion that entered it. */
  | { op: "fin" }
  /**
   * break/continue across try regions or block environments: leave `n` handlers (running their
   * finally blocks), drop `c` pending completions, leave block environments down to depth `d`, jump.
   */
  | { op: "leave"; to: number; n: number; c: number; d: number }
  /** for...of: snapshot the iterable into the iterator slot `v` (`t`: its text). */
  | { op: "iter"; e: Expr; v: string; at: Pos; t?: string }
  /** for...of: bind the next item to `p`, or jump to `to` when done. The slot is `u` environments up. */
  | { op: "next"; v: string; u?: number; p: Pat; to: number }
  /** Enter a new block environment (its parent is the current one). */
  | { op: "enter" }
  /** Leave the current block environment. */
  | { op: "exit" }
  /** A `for (let ...)` loop's next iteration: continue in a copy of the head's environment. */
  | { op: "renew" };

export type Expr =
  | { k: "lit"; v: Encoded }
  | { k: "re"; p: string; f: string }
  | { k: "var"; n: string; up?: number }
  | { k: "tpl"; q: string[]; e: Expr[] }
  /** Array literal; a spread item's `t` is its text, for "x is not iterable". */
  | { k: "arr"; items: Array<Expr | { spread: Expr; t?: string } | null> }
  | { k: "obj"; props: Array<{ key: string; v: Expr } | { ck: Expr; v: Expr } | { spread: Expr }> }
  | { k: "get"; o: Expr; p: string | Expr; opt?: true }
  /** Short-circuit boundary of an optional chain: `a?.b.c` is undefined when `a` is nullish. */
  | { k: "chain"; e: Expr }
  /**
   * `t`: the callee's text, for "x.f is not a function". `cc`: the callee is a parenthesised
   * optional chain (`(a?.f)()`), so it is undefined, not a short-circuit, when the chain ends early.
   */
  | { k: "call"; f: Expr; args: Arg[]; opt?: true; cc?: true; t?: string }
  | { k: "bin"; op: BinOp; l: Expr; r: Expr }
  | { k: "log"; op: "&&" | "||" | "??"; l: Expr; r: Expr }
  | { k: "un"; op: "-" | "+" | "!" | "~" | "typeof" | "void"; e: Expr }
  | { k: "del"; t: Expr }
  | { k: "cond"; t: Expr; c: Expr; a: Expr }
  | { k: "assign"; op: AssignOp; t: Pat; e: Expr }
  | { k: "upd"; op: "++" | "--"; prefix: boolean; t: Pat }
  | { k: "seq"; es: Expr[] }
  /** A closure over the current environment (arrow functions). */
  | { k: "fn"; f: number }
  /** A whitelisted global: `Math.max`, `JSON`, `Number.MAX_SAFE_INTEGER`, `Error`, ... */
  | { k: "global"; path: string }
  | { k: "new"; c: string; args: Arg[] }
  /** Start an action call: evaluates to a handle (a promise the workflow may await). */
  | { k: "act"; name: string; args: Arg[]; opts: Expr | null; node: string }
  /** A durable sleep; `v` is what it resolves to (`setTimeout(ms, value)`). */
  /** An action used as a value (`ids.map(fetchUser)`): a function that starts the action. */
  | { k: "actref"; name: string; node: string }
  | { k: "sleep"; ms: Expr; v: Expr | null; node: string }
  | { k: "all"; e: Expr; settled: boolean; node: string }
  /** `waitForEvent(name, options?)`: takes the oldest message of the mailbox `name`. */
  | { k: "wait"; name: Expr; opts: Expr | null; node: string }
  /** `publish(key, value)`: sets the instance's latest value for `key`. */
  | { k: "publish"; key: Expr; v: Expr; node: string }
  /** `sendEvent(instanceId, name, payload, options?)` from a workflow. */
  | { k: "send"; args: Arg[]; node: string }
  /**
   * A child workflow (`wf`, its registered name): `new Child().run(...args)` waits for it;
   * `new Child().start(args, options?)` (`detached`; `args` is then the one array argument) does not.
   */
  | { k: "child"; wf: string; args: Arg[]; opts: Expr | null; detached: boolean; node: string }
  /** Call a helper method of the workflow class. */
  | { k: "helper"; f: number; args: Arg[] }
  /**
   * `console.log(...)` (`info`, `warn`, `error`, `debug`), or `log.info(...)` of "waymark": a
   * record of the instance's log (the supervisor's log, and the instance's timeline), made once
   * per executed step. Evaluates to undefined. `at` is the call's position.
   */
  | { k: "print"; level: WorkflowLogLevel; args: Arg[]; at: Pos; node: string };

/** The levels of a workflow's log records: `console.log` writes at `info`. */
export type WorkflowLogLevel = "debug" | "info" | "warn" | "error";

/** A call argument; a spread's `t` is its text, for "x is not iterable". */
export type Arg = Expr | { spread: Expr; t?: string };

export type BinOp =
  | "+"
  | "-"
  | "*"
  | "/"
  | "%"
  | "**"
  | "=="
  | "!="
  | "==="
  | "!=="
  | "<"
  | "<="
  | ">"
  | ">="
  | "&"
  | "|"
  | "^"
  | "<<"
  | ">>"
  | ">>>"
  | "in"
  | "instanceof";

export type AssignOp = "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "**=" | "&=" | "|=" | "^=" | "<<=" | ">>=" | ">>>=" | "&&=" | "||=" | "??=";

export type Pat =
  /** A variable of this function (`up` = 0) or of an enclosing one (arrow functions). */
  | { k: "id"; n: string; up?: number }
  /** An assignment target `obj.prop` / `obj[expr]` (assignment patterns only). */
  | { k: "mem"; o: Expr; p: string | Expr }
  /**
   * Destructuring. `t` names the destructured value in the TypeError for null, undefined or a
   * non-iterable: the source text of the initialiser, or "#v" to describe the value itself (as
   * V8 does for parameters). Nested patterns have none: V8 reports a plain property read.
   */
  | { k: "arrp"; items: Array<Pat | null>; rest: Pat | null; t?: string }
  | { k: "objp"; props: Array<{ key: string | Expr; v: Pat }>; rest: Pat | null; t?: string }
  | { k: "def"; p: Pat; d: Expr };
