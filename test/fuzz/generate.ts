/**
 * Generated workflows: a tape of random numbers (what fast-check makes and shrinks) read as a
 * sequence of choices that build a workflow class from the supported language. Each choice is
 * a number modulo the options at that point, and an exhausted tape reads as 0, the simplest
 * option (a literal, no nesting), so every tape makes a program and a shorter or smaller tape a
 * simpler one. Programs terminate by construction: loops count to at most 3 with counters no
 * other code assigns, iterate over fresh short arrays, and nest at most twice; strings and arrays
 * that grow are cut back on assignment.
 */

type Type = "num" | "str" | "bool" | "arr" | "obj";

interface Var {
  name: string;
  type: Type;
  /** const, or a loop counter: never assigned. */
  fixed: boolean;
}

const NUMS = ["0", "1", "2", "3", "-1", "7", "10", "0.5", "-0", "100"];
const STRS = ['""', '"a"', '"hello"', '"x y"', '"Z"', '"ab,c"', '"é"'];
const ERRORS = ["Error", "TypeError", "RangeError"];

export interface Program {
  /** The class's source (its name is `NAME`, replaced when written). */
  source: string;
  /** The arguments of run(). */
  args: [number, string, number[]];
}

class Tape {
  private i = 0;
  constructor(private readonly values: readonly number[]) {}
  /** A choice among n options: 0 when the tape is out. */
  next(n: number): number {
    if (n <= 1) return 0;
    const v = this.i < this.values.length ? this.values[this.i]! : 0;
    this.i++;
    return v % n;
  }
}

class Gen {
  private readonly scopes: Var[][] = [[]];
  private serial = 0;
  private readonly lines: string[] = [];
  private readonly usesHelpers = { sync: false, async: false };

  constructor(private readonly t: Tape) {}

  private pick<T>(xs: readonly T[]): T {
    return xs[this.t.next(xs.length)]!;
  }

  private vars(type: Type, assignable = false): Var[] {
    return this.scopes.flat().filter((v) => v.type === type && (!assignable || !v.fixed));
  }

  private declare(type: Type, fixed: boolean, prefix?: string): string {
    const name = `${prefix ?? type[0]}${this.serial++}`;
    this.scopes.at(-1)!.push({ name, type, fixed });
    return name;
  }

  private fresh(prefix: string): string {
    return `${prefix}${this.serial++}`;
  }

  // ---- expressions ----

  expr(type: Type, d: number): string {
    switch (type) {
      case "num":
        return this.num(d);
      case "str":
        return this.str(d);
      case "bool":
        return this.bool(d);
      case "arr":
        return this.arr(d);
      case "obj":
        return this.obj(d);
    }
  }

  private variable(type: Type): string | undefined {
    const vs = this.vars(type);
    return vs.length ? this.pick(vs).name : undefined;
  }

  num(d: number): string {
    const leaf = d <= 0;
    const k = this.t.next(leaf ? 2 : 16);
    if (k === 0) return this.pick(NUMS);
    if (k === 1) return this.variable("num") ?? this.pick(NUMS);
    const n = () => this.num(d - 1);
    switch (k) {
      case 2:
        return `(${n()} ${this.pick(["+", "-", "*"])} ${n()})`;
      case 3:
        return `(${n()} % ${this.pick(["3", "2", "7"])})`;
      case 4:
        return `Math.${this.pick(["max", "min"])}(${n()}, ${n()})`;
      case 5:
        return `Math.${this.pick(["floor", "abs", "round", "sign", "trunc"])}(${n()})`;
      case 6:
        return `${this.arr(d - 1)}.length`;
      case 7:
        return `${this.str(d - 1)}.length`;
      case 8:
        return `${this.arr(d - 1)}.indexOf(${n()})`;
      case 9: {
        const p = this.fresh("p");
        const c = this.fresh("c");
        return `${this.arr(d - 1)}.reduce((${p}, ${c}) => ${p} + ${c}, ${n()})`;
      }
      case 10:
        return `(${this.arr(d - 1)}[${this.pick(["0", "1", "5"])}] ?? ${n()})`;
      case 11:
        return `(${this.bool(d - 1)} ? ${n()} : ${n()})`;
      case 12:
        return `${this.obj(d - 1)}.x`;
      case 13:
        return `parseInt(${this.str(d - 1)}, 10)`;
      case 14:
        return `(${n()} ${this.pick(["|", "&", "^", "<<", ">>"])} ${this.pick(["1", "2", "3"])})`;
      default:
        return `Number(${this.pick(["true", '"12"', '"x"', "null", '" 7 "'])})`;
    }
  }

  str(d: number): string {
    const leaf = d <= 0;
    const k = this.t.next(leaf ? 2 : 16);
    if (k === 0) return this.pick(STRS);
    if (k === 1) return this.variable("str") ?? this.pick(STRS);
    const s = () => this.str(d - 1);
    switch (k) {
      case 2:
        return `\`${this.pick(["", "v=", "<"])}\${${this.num(d - 1)}}-\${${s()}}\``;
      case 3:
        return `(${s()} + ${this.num(d - 1)})`;
      case 4:
        return `${s()}.${this.pick(["toUpperCase", "toLowerCase", "trim"])}()`;
      case 5:
        return `${s()}.slice(${this.pick(["0, 3", "1", "-2"])})`;
      case 6:
        return `${this.arr(d - 1)}.join(${this.pick(['"-"', '""', '", "'])})`;
      case 7:
        return `String(${this.expr(this.pick(["num", "bool", "arr"] as const), d - 1)})`;
      case 8:
        return `JSON.stringify(${this.expr(this.pick(["obj", "arr", "str", "num"] as const), d - 1)})`;
      case 9:
        return `${s()}.padStart(${this.pick(["3", "6"])}, "*")`;
      case 10:
        return `(typeof ${this.expr(this.pick(["num", "str", "bool", "obj"] as const), d - 1)})`;
      case 11:
        return `${s()}.split("").reverse().join("")`;
      case 12:
        return `(${this.num(d - 1)}).toFixed(${this.pick(["0", "2"])})`;
      case 13:
        return `${s()}.replace(${this.pick(['"a"', '"l"', "/[aeiou]/g"])}, ${this.pick(['"_"', '""'])})`;
      case 14:
        return `${this.obj(d - 1)}.y`;
      default:
        return `(${this.bool(d - 1)} ? ${s()} : ${s()})`;
    }
  }

  bool(d: number): string {
    const leaf = d <= 0;
    const k = this.t.next(leaf ? 2 : 12);
    if (k === 0) return this.pick(["true", "false"]);
    if (k === 1) return this.variable("bool") ?? "true";
    switch (k) {
      case 2:
        return `(${this.num(d - 1)} ${this.pick(["<", "<=", ">", "===", "!==", "=="])} ${this.num(d - 1)})`;
      case 3:
        return `${this.str(d - 1)}.includes(${this.pick(['"a"', '"-"', '""'])})`;
      case 4: {
        const e = this.fresh("e");
        return `${this.arr(d - 1)}.${this.pick(["some", "every"])}((${e}) => ${e} > ${this.num(d - 1)})`;
      }
      case 5:
        return `!${this.bool(d - 1)}`;
      case 6:
        return `(${this.bool(d - 1)} ${this.pick(["&&", "||"])} ${this.bool(d - 1)})`;
      case 7:
        return `Number.isInteger(${this.num(d - 1)})`;
      case 8:
        return `(${this.pick(['"x"', '"z"'])} in ${this.obj(d - 1)})`;
      case 9:
        return `(${this.str(d - 1)} ${this.pick(["<", "===", ">="])} ${this.str(d - 1)})`;
      case 10:
        return `Number.isNaN(${this.num(d - 1)})`;
      default:
        return `Array.isArray(${this.expr(this.pick(["arr", "obj"] as const), d - 1)})`;
    }
  }

  arr(d: number): string {
    const leaf = d <= 0;
    const k = this.t.next(leaf ? 2 : 10);
    if (k === 0) return `[${this.pick(["", "1, 2, 3", "4", "0, -1"])}]`;
    if (k === 1) return this.variable("arr") ?? "[1, 2]";
    const a = () => this.arr(d - 1);
    const e = this.fresh("e");
    switch (k) {
      case 2:
        return `[${this.num(d - 1)}, ${this.num(d - 1)}]`;
      case 3:
        return `[...${a()}, ${this.num(d - 1)}].slice(0, 6)`;
      case 4:
        return `${a()}.map((${e}) => ${e} ${this.pick(["*", "+", "-"])} ${this.num(d - 1)})`;
      case 5:
        return `${a()}.filter((${e}) => ${e} % 2 === ${this.pick(["0", "1"])})`;
      case 6:
        return `${a()}.slice(${this.pick(["1", "0, 2", "-2"])})`;
      case 7: {
        const f = this.fresh("e");
        return `[...${a()}].sort((${e}, ${f}) => ${e} - ${f})`;
      }
      case 8:
        return `${a()}.concat([${this.num(d - 1)}]).slice(0, 6)`;
      default:
        return `Object.values(${this.obj(d - 1)}).filter((${e}) => typeof ${e} === "number")`;
    }
  }

  obj(d: number): string {
    const leaf = d <= 0;
    const k = this.t.next(leaf ? 2 : 4);
    if (k === 0) return `{ x: ${this.pick(NUMS)}, y: ${this.pick(STRS)} }`;
    if (k === 1) return this.variable("obj") ?? '{ x: 1, y: "o" }';
    if (k === 2) return `{ x: ${this.num(d - 1)}, y: ${this.str(d - 1)} }`;
    const key = this.pick(["x", "y"]);
    return `{ ...${this.obj(d - 1)}, ${key}: ${key === "x" ? this.num(d - 1) : this.str(d - 1)} }`;
  }

  /**
   * A value of any kind from the wider language, some of which throw natively (V8's own messages
   * must come out of the engine too): optional chaining, key order, Map and Set, Date, number
   * formatting, string and array methods with edge arguments, errors with causes, closures.
   */
  probe(d: number): string {
    const n = () => this.num(d - 1);
    const str = () => this.str(d - 1);
    const a = () => this.arr(d - 1);
    const o = () => this.obj(d - 1);
    const e = this.fresh("e");
    const templates: Array<() => string> = [
      () => `${o()}?.z?.w`,
      () => `${a()}?.[${this.pick(["5", "0", "-1"])}]?.toFixed(1)`,
      () => `(${a()}[${this.pick(["5", "1"])}] ?? "none")`,
      () => `Object.keys({ b: 1, 2: "x", a: ${n()}, 1: "y", [${str()}]: 0 })`,
      () => `Object.entries(${o()})`,
      () => `Object.fromEntries([[${str()}, ${n()}], ["k", ${str()}]])`,
      () => `[...${str()}]`,
      () => `new Map([[${n()}, ${str()}], [${n()}, "b"]])`,
      () => `[...new Set([...${a()}, ...${a()}])]`,
      () => `new Set(${a()}).has(${n()})`,
      () => `new Map([[NaN, 1]]).get(${n()})`,
      () => `new Date(${this.pick(["0", "86400000", "1e12", "-1", "8.64e15", "NaN"])}).toISOString()`,
      () => `new Date(${n()} * 1000).getUTCFullYear()`,
      () => `(${n()}).toString(${this.pick(["2", "16", "36", "1", "37"])})`,
      () => `(${n()}).toFixed(${this.pick(["0", "2", "100", "101", "-1"])})`,
      () => `(${n()}).toPrecision(${this.pick(["1", "3", "0"])})`,
      () => `${str()}.repeat(${this.pick(["0", "2", "-1"])})`,
      () => `${str()}.at(${this.pick(["-1", "0", "9"])})`,
      () => `${str()}.charCodeAt(${this.pick(["0", "9"])})`,
      () => `${str()}.split(${this.pick(['","', '""', "/[lo]/", "undefined"])})`,
      () => `${str()}.replaceAll(${this.pick(['"l"', '""', "/a/g", "/a/"])}, "L")`,
      () => `${str()}.match(/(l+)(o)?/)`,
      () => `[...${str()}.matchAll(/[a-z]/g)].map((${e}) => ${e}.index)`,
      () => `${str()}.localeCompare(${str()})`,
      () => `${str()}.normalize(${this.pick(['"NFD"', '"NFC"', '"bad"'])})`,
      () => `${a()}.at(-1)`,
      () => `${a()}.includes(NaN)`,
      () => `[${a()}, [${n()}, [${n()}]]].flat(${this.pick(["1", "Infinity"])})`,
      () => `${a()}.flatMap((${e}) => [${e}, ${e} * 2])`,
      () => `${a()}.findLast((${e}) => ${e} > ${n()})`,
      () => `${a()}.toSorted((${e}, f) => f - ${e})`,
      () => `Array.from(${str()})`,
      () => `JSON.parse(${this.pick(["'{\"a\":[1,2]}'", "'bad'", "'[1,'", "JSON.stringify(" + o() + ")"])})`,
      () => `JSON.stringify(${o()}, null, ${this.pick(["2", "0", '"--"'])})`,
      () => `${this.variable("obj") ?? o()}.nothing.deeper`,
      () => `${this.variable("arr") ?? a()}.notAFunction()`,
      () => `new Array(${this.pick(["-1", "3", "1.5"])}).length`,
      () => `String(new Error(${str()}, { cause: ${n()} }).cause)`,
      () => `String(new RangeError(${str()}))`,
      () => `((${e}) => { if (${e} > 2) return "big"; return ${e} * 2; })(${n()})`,
      () => `${a()}.map((${e}) => { if (${e} > ${n()}) throw new TypeError("too big: " + ${e}); return ${e}; })`,
      () => `Math.round(-0.4)`,
      () => `Object.is(${n()}, -0)`,
      () => `parseFloat(${str()} + "1.5e3")`,
      () => `encodeURIComponent(${str()} + "&é")`,
      () => `(${n()}, ${str()})`,
      () => `BigInt(${this.pick(["10", "1.5", '"7"'])}) + 1n`,
      () => `${n()} + 1n`,
      () => `(${this.any(d - 1)} ${this.pick(["+", "-", "*", "/", "<", ">=", "==", "!=", "===", "??", "||", "&&"])} ${this.any(d - 1)})`,
      () => `[${this.any(d - 1)}, ${this.any(d - 1)}].sort()`,
      () => `String(${this.any(d - 1)})`,
      () => `\`\${${this.any(d - 1)}}\``,
    ];
    return this.pick(templates)();
  }

  /** A value of any type, null and undefined included: for mixed-type operators. */
  private any(d: number): string {
    const k = this.t.next(7);
    if (k === 5) return "null";
    if (k === 6) return "undefined";
    return this.expr((["num", "str", "bool", "arr", "obj"] as const)[k]!, d);
  }

  // ---- statements ----

  private emit(indent: number, line: string): void {
    this.lines.push(`${"  ".repeat(indent)}${line}`);
  }

  /** A value cut back to stay small, for assignments (loops may repeat them). */
  private capped(type: Type, e: string): string {
    if (type === "str") return `(${e}).slice(0, 24)`;
    if (type === "arr") return `(${e}).slice(0, 6)`;
    return e;
  }

  private block(indent: number, depth: number, ctx: { loop: string[]; inLoop: boolean }, fn: () => void = () => this.statements(indent, depth, ctx)): void {
    this.scopes.push([]);
    fn();
    this.scopes.pop();
  }

  statements(indent: number, depth: number, ctx: { loop: string[]; inLoop: boolean }): void {
    const n = 1 + this.t.next(depth > 1 ? 3 : 2);
    for (let i = 0; i < n; i++) this.statement(indent, depth, ctx);
  }

  private statement(indent: number, depth: number, ctx: { loop: string[]; inLoop: boolean }): void {
    const d = 2;
    const nested = depth > 0;
    if (this.t.next(8) === 0) return this.logStatement(indent, d);
    const k = this.t.next(nested ? 19 : 11);
    const type = this.pick(["num", "str", "bool", "arr", "obj"] as const);
    switch (k) {
      case 0: {
        const fixed = this.t.next(2) === 0;
        const e = this.expr(type, d);
        const name = this.declare(type, fixed);
        this.emit(indent, `${fixed ? "const" : "let"} ${name} = ${e};`);
        return;
      }
      case 1:
      case 2: {
        const vs = this.vars(type, true);
        if (!vs.length) return this.emit(indent, `(${this.expr(type, d)});`);
        const v = this.pick(vs);
        const op =
          type === "num"
            ? this.pick(["=", "+=", "-=", "*=", "||=", "??=", "&&="])
            : type === "str"
              ? this.pick(["=", "+=", "||="])
              : type === "bool"
                ? this.pick(["=", "&&=", "||="])
                : "=";
        if (op === "+=" && type === "str") return this.emit(indent, `${v.name} = (${v.name} + ${this.str(d)}).slice(0, 24);`);
        return this.emit(indent, `${v.name} ${op} ${this.capped(type, this.expr(type, d))};`);
      }
      case 3: {
        const arrs = this.vars("arr", true);
        if (arrs.length) {
          const a = this.pick(arrs).name;
          return this.emit(indent, `if (${a}.length < 6) ${a}.${this.pick(["push", "unshift"])}(${this.num(d)});`);
        }
        return this.emit(indent, `${this.arr(d)}.pop();`);
      }
      case 4: {
        const objs = this.vars("obj");
        if (!objs.length) return;
        const o = this.pick(objs).name;
        return this.emit(indent, this.t.next(2) ? `${o}.x = ${this.num(d)};` : `${o}.y = (${this.str(d)}).slice(0, 24);`);
      }
      case 5: {
        // An awaited action: echo, add, or one in a Promise.all.
        const j = this.t.next(4);
        const vs = this.vars(type, true);
        if (j === 0 && vs.length) return this.emit(indent, `${this.pick(vs).name} = ${this.capped(type, `await echo(${this.expr(type, d)})`)};`);
        if (j === 1) {
          const [x, y] = [this.num(d), this.num(d)];
          return this.emit(indent, `let ${this.declare("num", false)} = Number(await add(${x}, ${y}));`);
        }
        if (j === 2) {
          const [x, y] = [this.num(d), this.str(d)];
          const a = this.declare("num", true);
          const b = this.declare("str", true);
          return this.emit(indent, `const [${a}, ${b}] = await Promise.all([add(${x}, 1), echo(${y})]);`);
        }
        const e = this.fresh("e");
        const [list, by] = [this.arr(1), this.num(0)];
        return this.emit(indent, `let ${this.declare("arr", false)} = (await Promise.all(${list}.slice(0, 3).map((${e}) => add(${e}, ${by})))).map(Number);`);
      }
      case 6: {
        // Helpers: a synchronous one, or an async one that calls an action.
        const vs = this.vars("num", true);
        if (!vs.length) return;
        if (this.t.next(2)) {
          this.usesHelpers.sync = true;
          return this.emit(indent, `${this.pick(vs).name} = this.scale(${this.num(d)}, ${this.num(d)});`);
        }
        this.usesHelpers.async = true;
        return this.emit(indent, `${this.pick(vs).name} = await this.bump(${this.num(d)});`);
      }
      case 7: {
        const kind = this.t.next(5);
        const [x, m] = [this.num(d), this.str(1)];
        const r = this.declare("str", false);
        return this.emit(
          indent,
          `let ${r} = (await Promise.allSettled([echo(${x}), fail(${kind}, ${m})])).map((x) => x.status === "fulfilled" ? String(x.value) : \`\${x.reason instanceof Error ? x.reason.name + ":" + x.reason.message : x.reason}\`).join("|");`,
        );
      }
      case 8: {
        // Destructuring: from an object, or an array with a default and a rest.
        if (this.t.next(2)) {
          const from = this.obj(d);
          const x = this.declare("num", true);
          const y = this.declare("str", true);
          return this.emit(indent, `const { x: ${x}, y: ${y} } = ${from};`);
        }
        const [fallback, from] = [this.num(1), this.arr(d)];
        const a = this.declare("num", false);
        const rest = this.declare("arr", false);
        return this.emit(indent, `let [${a} = ${fallback}, ...${rest}] = ${from};`);
      }
      case 9:
      case 10: {
        const probe = this.probe(d);
        return this.emit(indent, `let ${this.declare("str", false, "r")} = String(JSON.stringify(${probe}) ?? "undefined").slice(0, 60);`);
      }
      case 11: {
        this.emit(indent, `if (${this.bool(d)}) {`);
        this.block(indent + 1, depth - 1, ctx);
        if (this.t.next(2)) {
          this.emit(indent, "} else {");
          this.block(indent + 1, depth - 1, ctx);
        }
        return this.emit(indent, "}");
      }
      case 12: {
        const label = this.t.next(3) === 0 ? this.fresh("L") : undefined;
        const kind = this.t.next(5);
        const inner = { loop: label ? [...ctx.loop, label] : ctx.loop, inLoop: true };
        const head = label ? `${label}: ` : "";
        if (kind === 3) {
          // A labelled block: `break` leaves it (a continue may only target a loop).
          const b = this.fresh("B");
          this.emit(indent, `${b}: {`);
          this.block(indent + 1, depth - 1, ctx, () => {
            this.statement(indent + 1, depth - 1, ctx);
            this.emit(indent + 1, `if (${this.bool(1)}) break ${b};`);
            this.statements(indent + 1, depth - 1, ctx);
          });
          return this.emit(indent, "}");
        }
        if (kind === 4) {
          const k = this.fresh("k");
          this.emit(indent, `${head}for (const ${k} in ${this.obj(1)}) {`);
          this.block(indent + 1, depth - 1, inner, () => {
            this.scopes.at(-1)!.push({ name: k, type: "str", fixed: true });
            this.loopBody(indent + 1, depth - 1, inner);
          });
          return this.emit(indent, "}");
        }
        if (kind === 0) {
          const i = this.fresh("i");
          this.emit(indent, `${head}for (let ${i} = 0; ${i} < ${1 + this.t.next(3)}; ${i}++) {`);
          this.block(indent + 1, depth - 1, inner, () => {
            this.scopes.at(-1)!.push({ name: i, type: "num", fixed: true });
            this.loopBody(indent + 1, depth - 1, inner);
          });
        } else if (kind === 1) {
          const e = this.fresh("e");
          this.emit(indent, `${head}for (const ${e} of ${this.arr(1)}.slice(0, 3)) {`);
          this.block(indent + 1, depth - 1, inner, () => {
            this.scopes.at(-1)!.push({ name: e, type: "num", fixed: true });
            this.loopBody(indent + 1, depth - 1, inner);
          });
        } else {
          const w = this.fresh("w");
          this.emit(indent, `let ${w} = 0;`);
          this.scopes.at(-1)!.push({ name: w, type: "num", fixed: true });
          this.emit(indent, `${head}while (${w} < ${1 + this.t.next(3)}) {`);
          this.emit(indent + 1, `${w}++;`);
          this.block(indent + 1, depth - 1, inner, () => this.loopBody(indent + 1, depth - 1, inner));
        }
        return this.emit(indent, "}");
      }
      case 13: {
        if (!ctx.inLoop) return this.emit(indent, `(${this.expr(type, d)});`);
        const target = ctx.loop.length && this.t.next(2) ? ` ${this.pick(ctx.loop)}` : "";
        return this.emit(indent, `if (${this.bool(1)}) ${this.pick(["break", "continue"])}${target};`);
      }
      case 14: {
        this.emit(indent, `switch (${this.num(d)} % 3) {`);
        for (const c of ["case 0:", "case 1:", "default:"]) {
          this.emit(indent + 1, `${c} {`);
          this.block(indent + 2, depth - 1, ctx);
          this.emit(indent + 1, "}");
          if (this.t.next(2)) this.emit(indent + 2, "break;");
        }
        return this.emit(indent, "}");
      }
      case 15:
      case 16: {
        const err = this.fresh("err");
        this.emit(indent, "try {");
        this.block(indent + 1, depth - 1, ctx);
        const shape = this.t.next(3);
        if (shape !== 1 && this.t.next(4) === 0) {
          this.emit(indent, "} catch {");
          this.block(indent + 1, depth - 1, ctx);
        } else if (shape !== 1) {
          this.emit(indent, `} catch (${err}) {`);
          this.block(indent + 1, depth - 1, ctx, () => {
            const strs = this.vars("str", true);
            if (strs.length)
              this.emit(
                indent + 1,
                `${this.pick(strs).name} = String(${err} instanceof Error ? \`\${${err}.name}:\${${err}.message}\` : ${err}).slice(0, 40);`,
              );
            this.statements(indent + 1, depth - 1, ctx);
          });
        }
        if (shape !== 0) {
          this.emit(indent, "} finally {");
          this.block(indent + 1, depth - 1, ctx);
        }
        return this.emit(indent, "}");
      }
      case 17: {
        // A throw: a built-in error, one with a custom name and field, or a plain value.
        const j = this.t.next(4);
        const cond = `if (${this.bool(1)}) `;
        if (j === 0) return this.emit(indent, `${cond}throw new ${this.pick(ERRORS)}(${this.str(1)});`);
        if (j === 1) return this.emit(indent, `${cond}throw Object.assign(new Error(${this.str(1)}), { name: "QuotaError", limit: ${this.num(1)} });`);
        if (j === 2) return this.emit(indent, `${cond}await fail(${this.t.next(5)}, ${this.str(1)});`);
        return this.emit(indent, `${cond}throw ${this.str(1)};`);
      }
      case 18:
        return this.emit(indent, `if (${this.bool(1)}) return ${this.result()};`);
      default:
        return this.emit(indent, `(${this.expr(type, d)});`);
    }
  }

  private loopBody(indent: number, depth: number, ctx: { loop: string[]; inLoop: boolean }): void {
    this.statements(indent, Math.max(depth, 0), ctx);
  }

  /**
   * A log record: one of console's levels or of `log`'s, with a format string (every specifier;
   * `%d`, `%i` and `%f` of primitives only: of an object, console would call its `toString`,
   * which the engine never does) and arguments of any type, or with arguments alone.
   */
  private logStatement(indent: number, d: number): void {
    const callee = this.pick(["console.log", "console.info", "console.warn", "console.error", "console.debug", "log.info", "log.log", "log.warn"]);
    const types = ["num", "str", "bool", "arr", "obj"] as const;
    const args: string[] = [];
    if (this.t.next(2)) {
      const specs: string[] = [];
      for (let i = 0, n = 1 + this.t.next(4); i < n; i++) {
        const spec = this.pick(["%s", "%d", "%i", "%f", "%j", "%o", "%O", "%%", "%c", "%x"]);
        specs.push(spec);
        if (spec === "%d" || spec === "%i" || spec === "%f") args.push(this.expr(this.pick(["num", "str", "bool"] as const), d));
        else if (spec !== "%%" && spec !== "%x") args.push(this.expr(this.pick(types), d));
      }
      // Fewer arguments than specifiers leaves some as written; more are inspected after.
      const extra = this.t.next(3);
      if (extra === 1) args.pop();
      else if (extra === 2) args.push(this.expr(this.pick(types), d));
      args.unshift(JSON.stringify(`${specs.join(" ")} end`));
    } else for (let i = 0, n = this.t.next(4); i < n; i++) args.push(this.expr(this.pick(types), d));
    this.emit(indent, `${callee}(${args.join(", ")});`);
  }

  /** What the program returns: every variable in scope, so every step's effect shows. */
  result(): string {
    const names = [...new Set(this.scopes.flat().map((v) => v.name))];
    return `{ ${names.join(", ")} }`;
  }

  /** The whole class. */
  program(): string {
    for (const [name, type, init] of [
      ["n", "num", "n"],
      ["s", "str", "s"],
      ["a", "arr", "[...xs]"],
      ["o", "obj", "{ x: n, y: s }"],
      ["b", "bool", "n > 1"],
    ] as const) {
      const v = this.declare(type, false, name);
      this.emit(2, `let ${v} = ${init};`);
    }
    const top = 2 + this.t.next(4);
    for (let i = 0; i < top; i++) this.statements(2, 2, { loop: [], inLoop: false });
    this.emit(2, `return ${this.result()};`);
    const helpers: string[] = [];
    if (this.usesHelpers.sync) helpers.push("  scale(v: number, by: number): number {", "    return v * by + 1;", "  }");
    if (this.usesHelpers.async)
      helpers.push("  async bump(v: number): Promise<number> {", "    const r = Number(await add(v, 1));", "    return r * 2;", "  }");
    return [
      "@workflow",
      "export class NAME extends Workflow {",
      "  async run(n: number, s: string, xs: number[]) {",
      ...this.lines,
      "  }",
      ...helpers,
      "}",
    ].join("\n");
  }
}

/** The program a tape makes, with its arguments. */
export function programOf(tape: readonly number[], args: Program["args"]): Program {
  return { source: new Gen(new Tape(tape)).program(), args };
}

/** The arbitraries of a program: its tape and its arguments (shrinking shortens and simplifies both). */
export function programArbitraries(fc: typeof import("fast-check")) {
  return [
    fc.array(fc.nat({ max: 99_999 }), { minLength: 10, maxLength: 400 }),
    fc.oneof(fc.integer({ min: -3, max: 10 }), fc.constantFrom(0.5, -0, Number.NaN)),
    fc.constantFrom("", "a", "hello", "x y", "é,Z"),
    fc.array(fc.integer({ min: -5, max: 10 }), { maxLength: 4 }),
  ] as const;
}
