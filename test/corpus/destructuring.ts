import { workflow, Workflow } from "waymark";
import { echo, fetchUser } from "./actions.js";
import { casesOf } from "./case.js";

@workflow
export class ArrayDestructuring extends Workflow {
  async run(list: number[]) {
    const [first, second = 100, , fourth = first, ...rest] = list;
    const [[nestedA, nestedB] = [0, 0], [deep] = [[9]]] = [[1, 2]] as unknown as number[][][];
    let x = 1;
    let y = 2;
    [x, y] = [y, x];
    const [c1, c2] = "ab";
    const [s1, s2] = new Set(["s", "t"]);
    const [[mk, mv]] = new Map([["k", "v"]]);
    const [fromAction, ...others] = await echo(list);
    const [, , third] = list;
    const target: number[] = [];
    [target[0], target[1] = 7] = [5];
    return { first, second, fourth, rest, nestedA, nestedB, deep, x, y, c1, c2, s1, s2, mk, mv, fromAction, others, third, target };
  }
}

@workflow
export class ObjectDestructuring extends Workflow {
  async run(input: { id: string; meta?: { tags?: string[]; score?: number }; [k: string]: unknown }) {
    const { id, meta: { tags = ["none"], score = 0 } = {}, ...others } = input;
    const { name: userName, age, missing = "default", ...userRest } = (await fetchUser(id)) as Record<string, unknown>;
    const key = "age";
    const { [key]: computedAge, [`n${"ame"}`]: computedName } = await fetchUser(id);
    let a = 0;
    let b = 0;
    ({ a, b = 5 } = { a: 1 } as { a: number; b?: number });
    const holder: Record<string, unknown> = {};
    ({ x: holder.x, y: holder["y"] } = { x: "hx", y: "hy" });
    const { length } = "four";
    const { 0: firstChar, length: len2 } = ["z", "w"];
    const { a: { b: { c: deepC = "dc" } = {} } = {} } = {} as { a?: { b?: { c?: string } } };
    const { undef = "was undefined", nul = "not used" } = { undef: undefined, nul: null } as { undef?: string; nul?: string | null };
    return { id, tags, score, others, userName, age, missing, userRest, computedAge, computedName, a, b, holder, length, firstChar, len2, deepC, undef, nul };
  }
}

@workflow
export class DestructuringInLoopsAndParams extends Workflow {
  async run(rows: Array<{ k: string; v: number[] }>) {
    const out: string[] = [];
    for (const {
      k,
      v: [head = -1, ...tail],
    } of rows)
      out.push(`${k}:${head}:${tail.join("|")}`);
    const mapped = rows.map(({ k, v }, i) => `${i}${k}${v.length}`);
    const sums = rows.map(({ v: [a = 0, b = 0] }) => a + b);
    const pairs = Object.entries({ p: 1, q: 2 }).map(([key, value]) => key.repeat(value));
    const fn = ({ a = 1, b = 2 }: { a?: number; b?: number } = {}, ...more: number[]) => a + b + more.length;
    const results = [fn(), fn({}), fn({ a: 10 }), fn(undefined, 1, 2, 3)];
    const { total } = await this.summarize(rows);
    return { out, mapped, sums, pairs, results, total };
  }

  async summarize(rows: Array<{ v: number[] }>, { scale = 1 }: { scale?: number } = {}) {
    let total = 0;
    for (const { v } of rows) for (const n of v) total += n * scale;
    return { total };
  }
}

@workflow
export class DestructuringErrors extends Workflow {
  async run(which: number) {
    const nothing: any = await echo(which === 4 ? null : undefined);
    try {
      if (which === 0) {
        const { a } = nothing;
        return a;
      }
      if (which === 1) {
        const [a] = nothing;
        return a;
      }
      if (which === 2) {
        const {
          x: { y },
        } = { x: nothing };
        return y;
      }
      if (which === 3) {
        const f = ({ a }: { a: number }) => a;
        return f(nothing);
      }
      if (which === 4) {
        const holder = { inner: nothing };
        const { k } = holder.inner;
        return k;
      }
      if (which === 5) {
        const { a } = await echo(nothing);
        return a;
      }
      if (which === 6) {
        const [a] = await echo(nothing);
        return a;
      }
      if (which === 7) {
        for (const { a } of [nothing]) return a;
      }
      if (which === 8) {
        for (const [a] of [5] as unknown as number[][]) return a;
      }
      if (which === 9) {
        try {
          throw nothing;
        } catch ({ message }: any) {
          return message;
        }
      }
      if (which === 10) {
        const g = ({ a }: { a: number } = { a: 1 }) => a;
        return g(null as never);
      }
      if (which === 11) {
        const holder: { list?: number[] } = {};
        const [first] = holder.list!;
        return first;
      }
      if (which === 12) {
        let a: number;
        ({ a } = nothing);
        return a;
      }
      if (which === 13) return [...nothing];
      if (which === 14) return Math.max(...nothing);
      if (which === 15) return Math.max(...(5 as unknown as number[]));
      if (which === 16) {
        for (const x of nothing.list) return x;
      }
      return "none";
    } catch (e) {
      const err = e as Error;
      return `${err.name}: ${err.message}`;
    }
  }
}

export const cases = [
  ...casesOf(ArrayDestructuring, [[1, 2, 3, 4, 5, 6]], [[1]], [[]]),
  ...casesOf(ObjectDestructuring, [{ id: "u7", meta: { tags: ["t"], score: 3 }, extra: 1 }], [{ id: "u2" }]),
  ...casesOf(DestructuringInLoopsAndParams, [
    [
      { k: "a", v: [1, 2, 3] },
      { k: "b", v: [] },
    ],
  ]),
  ...Array.from({ length: 18 }, (_, i) => ({ workflow: DestructuringErrors, args: [i] })),
];
