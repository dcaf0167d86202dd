import { workflow, Workflow } from "waymark";
import { add, double, echo } from "./actions.js";
import { casesOf } from "./case.js";

@workflow
export class LiteralsAndTemplates extends Workflow {
  async run(name: string, n: number) {
    const values = [0, -0, 1.5, 1e21, 0x1f, 0o17, 0b101, 1_000_000, NaN, Infinity, -Infinity, "s", "q", true, false, null, undefined];
    const big = 12345678901234567890n;
    const tpl = `Hi ${name}, n=${n}, n*2=${await double(n)}, nested=${`<${name.toUpperCase()}>`} ${[1, 2]} ${{}} ${null} ${undefined}`;
    const multiline = `line1
line2\ttab \u00e9 \x41 \${not}`;
    const re = /a(b+)c/gi;
    const matched = "xABBCx abc".match(re);
    return { values, big, tpl, multiline, matched, reSource: re.source, reFlags: re.flags, neg: -n, pos: +"42", not: !n, notnot: !!name, voided: void n };
  }
}

@workflow
export class ObjectAndArrayLiterals extends Workflow {
  async run(base: { a: number; b?: string }, list: number[]) {
    const key = "dyn";
    const extra = await echo({ z: 26 });
    const obj = {
      ...base,
      list,
      [key]: 1,
      [`${key}2`]: await double(2),
      "quoted key": true,
      42: "answer",
      nested: { deep: { deeper: [base.a] } },
      ...extra,
      ...(null as unknown as object),
      ...(undefined as unknown as object),
      ...(list.length > 1 ? { many: true } : {}),
      a: "overridden",
    };
    const shorthand = { key, extra };
    const arr = [...list, ...(await echo([7, 8])), ..."hi", ...new Set([1, 1, 2])];
    const withHoles = [1, , 3];
    const copy = [...withHoles];
    return { obj, shorthand, arr, holesLength: withHoles.length, has1: 1 in withHoles, copy, keys: Object.keys(obj) };
  }
}

@workflow
export class MemberAndOptional extends Workflow {
  async run(data: { user?: { profile?: { name: string; tags?: string[] } | null }; list?: number[]; fn?: null | (() => number) }) {
    const name = data.user?.profile?.name;
    const firstTag = data.user?.profile?.tags?.[0];
    const tagCount = data.user?.profile?.tags?.length ?? -1;
    const upper = data.user?.profile?.name.toUpperCase();
    const item = data.list?.[1];
    const missing = (data as Record<string, any>).nothing?.deep.deeper.deepest;
    const called = data.fn?.();
    const method = data.list?.map?.((x) => x * 2);
    const idx = "list";
    const viaIndex = (data as Record<string, unknown>)[idx];
    const fetched = (await echo(data)).user?.profile;
    const len = "hello".length;
    const charAt = "hello"[1];
    const arrLast = [1, 2, 3][2];
    const computed = { a: { b: { c: 5 } } }["a"]["b"].c;
    return { name, firstTag, tagCount, upper, item, missing, called, method, viaIndex, fetched, len, charAt, arrLast, computed };
  }
}

@workflow
export class OperatorsAndComparisons extends Workflow {
  async run(a: number, b: number, s: string) {
    const arithmetic = [
      a + b,
      a - b,
      a * b,
      a / b,
      a % b,
      a ** b,
      -a,
      +s,
      a + s,
      s + a,
      (s as unknown as number) * 1,
      -(-a),
      2 ** (3 ** 2),
      (a + b) * 2 - b / 2,
    ];
    const comparisons = [
      a < b,
      a <= b,
      a > b,
      a >= b,
      a == b,
      a != b,
      a === b,
      a !== b,
      "10" < "9",
      10 < 9,
      s == (a as unknown),
      null == undefined,
      null === undefined,
      Number.NaN === Number("x"),
      0 === -0,
      Object.is(0, -0),
    ];
    const looseEq = [1 == ("1" as unknown), 0 == ("" as unknown), null == (0 as unknown), ([1] as unknown) == 1, true == (1 as unknown)];
    const types = [
      typeof a,
      typeof s,
      typeof null,
      typeof undefined,
      typeof {},
      typeof [],
      typeof (() => 1),
      typeof 1n,
      typeof true,
      typeof (undefined as unknown),
    ];
    const bitwise = [a & b, a | b, a ^ b, ~a, a << 2, a >> 1, -a >>> 28];
    const obj = { x: 1, arr: [1, 2] };
    const membership = ["x" in obj, "y" in obj, 0 in obj.arr, 5 in obj.arr, "length" in obj.arr];
    const instances = [
      obj.arr instanceof Array,
      obj instanceof Array,
      obj instanceof Object,
      new Date(0) instanceof Date,
      new Map() instanceof Map,
      new Error("x") instanceof Error,
      new TypeError("t") instanceof Error,
    ];
    const sum = (await add(a, b)) * (await double(b));
    return { arithmetic, comparisons, looseEq, types, bitwise, membership, instances, sum };
  }
}

@workflow
export class LogicalAndTernary extends Workflow {
  async run(values: Array<number | string | null | undefined | boolean>) {
    const out: unknown[] = [];
    for (const v of values) {
      out.push([v && "and", v || "or", v ?? "nullish", v ? "truthy" : "falsy", v === null ? "null" : v === undefined ? "undef" : typeof v]);
    }
    let calls = 0;
    const bump = () => ++calls;
    const shortAnd = false && bump();
    const shortOr = true || bump();
    // @ts-expect-error: a constant left side on purpose
    const shortNullish = 0 ?? bump();
    // @ts-expect-error: a constant left side on purpose
    const evaluated = null ?? bump();
    const awaitedRight = values.length > 2 && (await echo("right side ran"));
    const skippedRight = values.length > 100 && (await echo("never"));
    const orAwait = values[0] || (await double(21));
    const nullishAwait = values[1] ?? (await double(50));
    const ternaryAwait = values.length ? await echo("yes") : await echo("no");
    return { out, calls, shortAnd, shortOr, shortNullish, evaluated, awaitedRight, skippedRight, orAwait, nullishAwait, ternaryAwait };
  }
}

@workflow
export class EvaluationOrder extends Workflow {
  async run(start: number) {
    const log: string[] = [];
    const note = (s: string, v: number) => {
      log.push(s);
      return v;
    };
    const a = note("left", start) + (await double(note("inner", 2))) + note("right", 1);
    const arr = [note("x", 1), await echo(note("y", 2)), note("z", 3)];
    const obj = { p: note("p", 1), q: await add(note("q1", 1), note("q2", 2)), r: note("r", 3) };
    let i = 0;
    const seq = [i++, i++, (i += 10), i];
    const target: Record<string, number> = {};
    target[note("key", 0) + "k"] = await double(note("value", 4));
    const comma = (note("c1", 0), note("c2", 0), await echo("c3"));
    return { a, arr, obj, seq, target, comma, log };
  }
}

/** `x += await f()` reads `x` before the await: concurrent updates are lost exactly as natively. */
@workflow
export class CompoundAssignAcrossAwaits extends Workflow {
  async run(items: number[]) {
    let total = 0;
    await Promise.all(
      items.map(async (n) => {
        total += await double(n);
      }),
    );
    const counts: Record<string, number> = { a: 0 };
    await Promise.all(items.map(async (n) => void (counts.a += await echo(n))));
    let sequential = 0;
    for (const n of items) sequential += await double(n);
    let maybe: number | null = null;
    maybe ??= await double(21);
    maybe ??= await double(1000);
    let flag = 0;
    flag ||= await echo(7);
    flag &&= await add(flag, 1);
    const obj: { v?: string } = {};
    const assigned = (obj.v ??= await echo("set once"));
    const frozen = Object.freeze({ list: Object.freeze([1, 2]), n: 1 });
    await echo("a step: the frozen objects go through a snapshot");
    let frozenError = "none";
    try {
      (frozen as { n: number }).n = 2;
    } catch (e) {
      frozenError = (e as Error).message;
    }
    const root = (await echo({ inner: null as { v: number } | null }))?.inner?.v;
    return { total, counts, sequential, maybe, flag, obj, assigned, frozenError, isFrozen: [Object.isFrozen(frozen), Object.isFrozen(frozen.list)], root };
  }
}

/**
 * Parentheses end an optional chain: `(a?.b).c` reads `c` of undefined when `a` is nullish (a
 * TypeError), where `a?.b.c` is undefined; `(a?.f)()` calls undefined. The receiver is kept:
 * `(list?.at)(-1)` is `list.at(-1)`. A non-null assertion does not end a chain.
 */
@workflow
export class ParenthesisedOptionalChain extends Workflow {
  async run(pick: number) {
    const a: any =
      pick === 0 ? null : pick === 1 ? {} : { b: { c: "c", f: (x?: string) => `f(${x})` }, f: (x: number) => x * 10, g: () => (x: number) => x + 1 };
    const list: any = pick === 0 ? null : [1, 2, 3];
    const out: unknown[] = [];
    const attempt = (f: () => unknown) => {
      try {
        out.push(f());
      } catch (e: any) {
        out.push(`${e.name}: ${e.message}`);
      }
    };
    attempt(() => (a?.b).c);
    attempt(() => (a?.b)[0]);
    attempt(() => a?.b?.c);
    attempt(() => a?.b.c);
    attempt(() => a?.b!.c);
    attempt(() => (a?.b).c);
    attempt(() => (a?.b as any).c);
    attempt(() => (a?.f)(2));
    attempt(() => a?.f?.(3));
    attempt(() => (a?.b.f)(String(out.push("argument evaluated"))));
    attempt(() => (a?.g())(1));
    attempt(() => (list?.at)(-1));
    attempt(() => (list?.map)((x: number) => x * 2));
    attempt(() => typeof a?.b);
    try {
      out.push((a?.f)(await double(2)));
    } catch (e: any) {
      out.push(`after await: ${e.name}: ${e.message}`);
    }
    const fetched: any = await echo(pick === 0 ? null : { b: { c: 1 } });
    try {
      out.push((fetched?.b).c);
    } catch (e) {
      out.push((e as Error).name);
    }
    return out;
  }
}

/** Uncaught, the TypeError of `(a?.b).c` fails the workflow, as natively. */
@workflow
export class ParenthesisedChainThrows extends Workflow {
  async run(a: any) {
    return (a?.b).c;
  }
}

/**
 * V8 prints an optional chain only when a call fails ("o?.f is not a function"): iterating,
 * spreading or destructuring one names it "(intermediate value)" or describes the value.
 */
@workflow
export class OptionalChainMessages extends Workflow {
  async run(a: any, o: any) {
    const out: unknown[] = [];
    const attempt = (f: () => unknown) => {
      try {
        out.push(f());
      } catch (e: any) {
        out.push(`${e.name}: ${e.message}`);
      }
    };
    attempt(() => [...a?.b]);
    attempt(() => [...o?.b.c]);
    attempt(() => Math.max(...a?.b));
    attempt(() => {
      for (const x of a?.b) out.push(x);
    });
    attempt(() => {
      for (const x of o?.b.c) out.push(x);
    });
    attempt(() => {
      const [x] = a?.b;
      return x;
    });
    attempt(() => {
      const { y } = a?.b;
      return y;
    });
    attempt(() => {
      const { y } = o?.b.c;
      return y;
    });
    attempt(() => {
      let y;
      ({ y } = a?.b);
      return y;
    });
    attempt(() => (o?.b).c());
    attempt(() => (o?.b.c)());
    attempt(() => o?.b.f());
    attempt(() => o?.f());
    return out;
  }
}

/** Escapes in string literals, templates and keys: the compiler decodes them as JavaScript does. */
@workflow
export class StringEscapes extends Workflow {
  async run(word: string) {
    const parsed = JSON.parse('"Jos\\u00e9"');
    const lone = "\uD800";
    const loneTpl = `\uD800`;
    const path = "C:\\u0041";
    const keyed = { "k\u00e9y": 1, "a\\ub": 2 };
    const { "k\u00e9y": fromKey } = keyed;
    const mixed =
      `${word}\u{1F600}\x41\0\v\\u0041` +
      "line\
continued";
    return {
      parsed,
      lengths: [lone.length, loneTpl.length, path.length, mixed.length],
      codes: [lone.charCodeAt(0), loneTpl.charCodeAt(0)],
      path,
      keys: Object.keys(keyed),
      fromKey,
      mixed: await echo(mixed),
      same: "\u00e9" === "é" && `\u00e9` === "\xe9",
    };
  }
}

/** `Date` where it stands (it cannot be held: an alias could read the clock): constructed, its pure statics, instanceof. */
@workflow
export class DateWhereItStands extends Workflow {
  async run(ms: number) {
    const d = new Date(ms);
    return { iso: d.toISOString(), utc: Date.UTC(2020, 0, 2), isDate: d instanceof Date, notDate: (ms as unknown) instanceof Date, echoed: await echo(d) };
  }
}

export const cases = [
  ...casesOf(LiteralsAndTemplates, ["ann", 4], ["", -1]),
  ...casesOf(ObjectAndArrayLiterals, [{ a: 1 }, [5, 6]], [{ a: 2, b: "b" }, []]),
  ...casesOf(
    MemberAndOptional,
    [{ user: { profile: { name: "x", tags: ["t1", "t2"] } }, list: [1, 2] }],
    [{ user: { profile: null } }],
    [{}],
    [{ fn: null, user: {} }],
  ),
  ...casesOf(OperatorsAndComparisons, [7, 3, "12"], [-2, 0.5, "x"], [0, 0, ""]),
  ...casesOf(LogicalAndTernary, [[0, null, "", "s", 1, undefined, false, true, NaN]], [[null]], [[]]),
  ...casesOf(EvaluationOrder, [1]),
  ...casesOf(CompoundAssignAcrossAwaits, [[1, 2, 3]]),
  ...casesOf(ParenthesisedOptionalChain, [0], [1], [2]),
  ...casesOf(ParenthesisedChainThrows, [null], [{ b: { c: 1 } }]),
  ...casesOf(OptionalChainMessages, [null, { b: {} }]),
  ...casesOf(StringEscapes, ["w"]),
  ...casesOf(DateWhereItStands, [86_400_000]),
];
