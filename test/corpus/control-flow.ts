import { workflow, Workflow } from "waymark";
import { double, echo, isEven } from "./actions.js";
import { casesOf } from "./case.js";

@workflow
export class IfElseChain extends Workflow {
  async run(n: number) {
    let label: string;
    if (n < 0) {
      label = "negative";
    } else if (n === 0) {
      label = "zero";
    } else if (n < 10) {
      label = "small";
      if (n % 2 === 0) label += "-even";
      else label += "-odd";
    } else {
      label = "large";
    }
    const doubled = n > 100 ? await double(n) : n;
    return { label, doubled };
  }
}

@workflow
export class AwaitInCondition extends Workflow {
  async run(values: number[]) {
    const out: string[] = [];
    for (const v of values) {
      if (await isEven(v)) out.push(`${v}:even`);
      else if ((await double(v)) > 10) out.push(`${v}:big-odd`);
      else out.push(`${v}:odd`);
    }
    while (!(await isEven(values.length + out.length))) out.push("pad");
    return out;
  }
}

@workflow
export class SwitchFallthrough extends Workflow {
  async run(codes: Array<string | number>) {
    const out: string[] = [];
    for (const code of codes) {
      let trace = "";
      switch (code) {
        // @ts-expect-error: falls through on purpose
        case "a":
          trace += "a";
        case "b":
          trace += "b";
          break;
        case 1:
        case 2: {
          const twice = await double(Number(code));
          trace += `num${twice}`;
          break;
        }
        // @ts-expect-error: falls through on purpose
        default:
          trace += "default";
        case "z":
          trace += "z";
      }
      out.push(trace);
    }
    switch (out.length) {
      case 0:
        return "none";
    }
    return out;
  }
}

@workflow
export class LoopsAndCounters extends Workflow {
  async run(limit: number) {
    const evens: number[] = [];
    for (let i = 0; i < limit; i++) {
      if (i % 2) continue;
      evens.push(i);
    }
    let w = 0;
    let whileSteps = 0;
    while (w < limit) {
      w += await double(1);
      whileSteps++;
    }
    let d = 100;
    let doSteps = 0;
    do {
      d -= 30;
      doSteps++;
    } while (d > 0);
    let once = 0;
    do once++;
    while (false);
    let countdown = "";
    for (let j = limit, k = 0; j > 0; j--, k += 2) countdown += `${j}/${k} `;
    let noInit = 0;
    for (; noInit < 3; ) noInit++;
    let forever = 0;
    for (;;) {
      if (++forever >= 4) break;
    }
    return { evens, w, whileSteps, d, doSteps, once, countdown, noInit, forever };
  }
}

@workflow
export class ForOfShapes extends Workflow {
  async run(pairs: Array<[string, number]>, record: Record<string, number>) {
    const out: string[] = [];
    for (const [name, value] of pairs) out.push(`${name}=${value}`);
    for (const [key, value] of Object.entries(record)) out.push(`${key}:${await double(value)}`);
    for (const { a, b = "dflt" } of [{ a: 1 }, { a: 2, b: "x" }] as Array<{ a: number; b?: string }>) out.push(`${a}${b}`);
    for (const ch of "héllo") out.push(ch);
    for (const v of new Set([3, 3, 4])) out.push(`set${v}`);
    for (const [k, v] of new Map([["m", 1]])) out.push(`map${k}${v}`);
    let last = "";
    for (last of ["x", "y", "z"]) out.push(last);
    const holder = { item: "" };
    for (holder.item of ["p", "q"]) out.push(holder.item.toUpperCase());
    for (const key in record) out.push(`in:${key}`);
    for (const [i, v] of ["a", "b"].entries()) out.push(`${i}${v}`);
    return { out, last, holder };
  }
}

@workflow
export class BreakContinueLabels extends Workflow {
  async run(grid: number[][]) {
    const visited: string[] = [];
    outer: for (let r = 0; r < grid.length; r++) {
      for (let c = 0; c < grid[r]!.length; c++) {
        const v = grid[r]![c]!;
        if (v < 0) continue outer;
        if (v === 0) continue;
        if (v > 50) break outer;
        visited.push(`${r},${c}:${await double(v)}`);
      }
      visited.push(`end-row-${r}`);
    }
    let found = -1;
    search: {
      for (const row of grid) {
        for (const v of row) {
          if (v === 7) {
            found = v;
            break search;
          }
        }
      }
      found = -2;
    }
    let n = 0;
    loop: while (true) {
      n++;
      do {
        n += 10;
        if (n > 40) break loop;
        continue loop;
      } while (true);
    }
    return { visited, found, n };
  }
}

@workflow
export class EarlyReturns extends Workflow {
  async run(input: unknown) {
    if (input === null) return "null";
    if (typeof input === "number") {
      for (let i = 0; ; i++) {
        if (i * i >= input) return `sqrt-ish ${i}`;
      }
    }
    if (Array.isArray(input)) {
      for (const item of input) {
        if ((await echo(item)) === "stop") return `stopped at ${input.indexOf(item)}`;
      }
      return "no stop";
    }
    switch (typeof input) {
      case "string":
        return `string ${input.length}`;
    }
    return;
  }
}

@workflow
export class VariablesAndAssignment extends Workflow {
  async run(start: number) {
    const fixed = start;
    let x = fixed;
    x = x + 1;
    x += 10;
    x -= 3;
    x *= 2;
    x /= 4;
    x %= 7;
    x **= 2;
    let bits = 0b1011;
    bits &= 0b0110;
    bits |= 0b1000;
    bits ^= 0b0001;
    bits <<= 2;
    bits >>= 1;
    let neg = -17;
    neg >>>= 28;
    let a: number | null = null;
    a ??= 5;
    a ||= 6;
    a &&= a + 1;
    let i = 0;
    const post = i++;
    const pre = ++i;
    const postDec = i--;
    const preDec = --i;
    let s = "a";
    s += await echo("b");
    let chained: number;
    let other: number;
    chained = other = 3;
    // @ts-expect-error: read before its declaration on purpose (it is hoisted)
    var hoisted = typeof later;
    var later = 1;
    const obj = { count: 1, nested: { n: 1 } };
    obj.count += 5;
    obj.nested.n++;
    obj["count"] *= 2;
    const arr = [1, 2, 3];
    arr[1] += await double(arr[0]!);
    arr[arr.length] = 9;
    let big = 10n;
    big *= 3n;
    big++;
    return { x, bits, neg, a, i, post, pre, postDec, preDec, s, chained, other, hoisted, later, obj, arr, big };
  }
}

export const cases = [
  ...casesOf(IfElseChain, [-5], [0], [4], [7], [50], [150]),
  ...casesOf(AwaitInCondition, [[1, 2, 7, 8]], [[3]]),
  ...casesOf(SwitchFallthrough, [["a", "b", 1, 2, "q", "z"]], [[]]),
  ...casesOf(LoopsAndCounters, [5], [0]),
  ...casesOf(ForOfShapes, [
    [
      ["a", 1],
      ["b", 2],
    ],
    { k: 3, j: 4 },
  ]),
  ...casesOf(BreakContinueLabels, [[[1, 0, 2], [-1, 5], [3, 60, 4], [7]]], [[[7]]]),
  ...casesOf(EarlyReturns, [null], [10], [["a", "stop", "b"]], [["a"]], ["text"], [{}]),
  ...casesOf(VariablesAndAssignment, [3], [-8]),
];
