import { workflow, Workflow } from "waymark";
import { add, double, echo, fail } from "./actions.js";
import { casesOf } from "./case.js";

/** Workflow state of every kind kept across awaits (so across snapshots), and odd corners. */

@workflow
export class RichStateAcrossAwaits extends Workflow {
  async run(seed: number) {
    const shared = { hits: 0 };
    const list = [shared, shared];
    const byKey = new Map<string, { hits: number }>([["a", shared]]);
    const seen = new Set<unknown>([shared]);
    const when = new Date(Date.UTC(2024, 0, 1));
    const re = /x(\d)/g;
    re.exec("x1 x2");
    const big = BigInt(seed) ** 20n;
    const nested: Record<string, unknown> = { self: null };
    nested.self = nested;
    await echo("step");
    shared.hits += await double(seed);
    when.setUTCDate(when.getUTCDate() + seed);
    const next = re.exec("x1 x2");
    await echo("another step");
    return {
      sameObject: list[0] === list[1] && byKey.get("a") === shared && seen.has(shared),
      hits: list[1]!.hits,
      when: when.toISOString(),
      next: next?.[1],
      lastIndex: re.lastIndex,
      big,
      cyclic: nested.self === nested,
      negZero: Object.is(-0 * seed, -0),
    };
  }
}

@workflow
export class ClosureRecursionAndHigherOrder extends Workflow {
  async run(n: number) {
    const fact = (k: number): number => (k <= 1 ? 1 : k * fact(k - 1));
    const fib = (k: number): number => (k < 2 ? k : fib(k - 1) + fib(k - 2));
    const memo = new Map<number, number>();
    const slowSquare = async (k: number) => {
      if (memo.has(k)) return memo.get(k)!;
      const v = await add(k * k, 0);
      memo.set(k, v);
      return v;
    };
    const squares: number[] = [];
    for (const k of [n, n, n + 1]) squares.push(await slowSquare(k));
    const pipeline = [(x: number) => x + 1, (x: number) => x * 2, (x: number) => x - 3];
    const piped = pipeline.reduce((acc, f) => f(acc), n);
    const curry = (a: number) => (b: number) => (c: number) => a * 100 + b * 10 + c;
    const once = (() => {
      let called = 0;
      return () => ++called;
    })();
    once();
    return { fact: fact(n), fib: fib(n + 5), squares, memoSize: memo.size, piped, curried: curry(1)(2)(3), once: once() };
  }
}

@workflow
export class ThrownValuesOfAnyKind extends Workflow {
  async run(kind: string) {
    try {
      if (kind === "string") throw "a plain string";
      if (kind === "object") throw { code: 42, message: "object thrown" };
      if (kind === "number") throw 7;
      if (kind === "null") throw null;
      if (kind === "sort")
        [3, 1, 2].sort(() => {
          throw new RangeError("from a comparator");
        });
      if (kind === "map") ["a"].map((s) => (s as unknown as { x: { y: number } }).x.y);
      if (kind === "action") await fail("Custom", "from an action");
      return "nothing thrown";
    } catch (e) {
      return { type: typeof e, isError: e instanceof Error, value: e instanceof Error ? `${e.name}: ${e.message}` : e };
    }
  }
}

@workflow
export class UncaughtNonErrorThrow extends Workflow {
  async run() {
    await double(1);
    throw Object.assign(new Error("with fields"), { name: "TaggedError", tag: "t" });
  }
}

@workflow
export class MiscControlCorners extends Workflow {
  async run(n: number) {
    const out: string[] = [];
    let i = 0;
    outer: do {
      i++;
      for (const j of [1, 2, 3]) {
        if (j === 2) continue outer;
        out.push(`${i}.${j}`);
      }
    } while (i < n);
    const obj: Record<string, number> = { a: 1, b: 2, c: 3 };
    delete obj.b;
    const keys: string[] = [];
    for (const k in obj) keys.push(k);
    for (const k in [7, 8]) keys.push(`idx${k}`);
    let count = 0;
    while (true) {
      try {
        count++;
        if (count < 3) continue;
        break;
      } finally {
        out.push(`finally ${count}`);
      }
    }
    const nestedTernary = n > 5 ? "big" : n > 2 ? "medium" : n > 0 ? "small" : "none";
    const sw = await this.classify(n);
    const optionalCalls = [obj.toString === undefined, (obj as { missing?: () => number }).missing?.(), [1, 2].at?.(-1)];
    return { out, keys, count, nestedTernary, sw, optionalCalls, deleted: "b" in obj };
  }

  async classify(n: number) {
    switch (true) {
      case n < 0:
        return "negative";
      case n === (await echo(0)):
        return "zero";
      case n % 2 === 0:
        return "even";
      default:
        return "odd";
    }
  }
}

@workflow
export class LiveCollectionsAndBuiltinRefs extends Workflow {
  async run(limit: number) {
    const out: unknown[] = [];
    const queue = new Set([1]);
    for (const v of queue) {
      if (v < limit) queue.add(await double(v));
      out.push(v);
    }
    const graph = new Map<string, string[]>([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", []],
    ]);
    const order = new Map<string, number>([["a", 0]]);
    for (const [node, depth] of order) {
      for (const next of graph.get(node)!) if (!order.has(next)) order.set(next, (await echo(depth)) + 1);
    }
    const list = [1];
    for (const v of list) if (v < limit) list.push(await add(v, 1));
    const max = Math.max;
    const toNumber = Number;
    const parse = JSON.parse;
    await echo("keep the references across a snapshot");
    return { out, order: [...order], list, max: max(1, 5, 3), num: ["1", "2"].map(toNumber), parsed: parse("[1]") };
  }
}

export const cases = [
  ...casesOf(LiveCollectionsAndBuiltinRefs, [20]),
  ...casesOf(RichStateAcrossAwaits, [3]),
  ...casesOf(ClosureRecursionAndHigherOrder, [5]),
  ...casesOf(ThrownValuesOfAnyKind, ["string"], ["object"], ["number"], ["null"], ["sort"], ["map"], ["action"], ["none"]),
  ...casesOf(UncaughtNonErrorThrow, []),
  ...casesOf(MiscControlCorners, [3], [0]),
];
