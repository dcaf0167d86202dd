import { workflow, Workflow } from "waymark";
import { double, echo, fail } from "./actions.js";
import { casesOf } from "./case.js";

/** Block scoping: shadowing, per-iteration environments and jumps out of nested blocks. */

@workflow
export class ShadowingBlocks extends Workflow {
  async run(x: number) {
    const seen: unknown[] = [];
    const getX = () => x;
    {
      const x = "block";
      seen.push(x, getX());
      {
        let x = 3;
        x += await double(x);
        const inner = () => x;
        seen.push(inner());
      }
    }
    if (x > 0) {
      const x = -1;
      seen.push(x);
    } else {
      let x = 99;
      seen.push(x++);
    }
    for (const x of [10, 20]) {
      const capture = () => x;
      seen.push(capture());
    }
    switch (x) {
      case 1: {
        const x = "case";
        seen.push(x);
        break;
      }
      default:
        seen.push("default");
    }
    try {
      throw new Error("shadow");
    } catch (x) {
      seen.push((x as Error).message);
    }
    seen.push(x, getX());
    return seen;
  }
}

@workflow
export class CapturedSwitchAndCatch extends Workflow {
  async run(keys: string[]) {
    const fns: Array<() => string> = [];
    for (const key of keys) {
      switch (key) {
        // @ts-expect-error: falls through on purpose
        case "a":
          const local = `A-${key}`;
          fns.push(() => local);
        case "b": {
          const other = `B-${key}`;
          fns.push(() => other);
          break;
        }
        default:
          fns.push(() => `default-${key}`);
      }
      try {
        if (key !== "a") await fail("Custom", `bad ${key}`);
      } catch (err) {
        fns.push(() => (err as Error).message);
      }
    }
    return fns.map((f) => f());
  }
}

@workflow
export class JumpsOutOfCapturedBlocks extends Workflow {
  async run(limit: number) {
    const out: Array<() => string> = [];
    outer: for (let i = 0; i < limit; i++) {
      const row = `r${i}`;
      for (const j of [0, 1, 2]) {
        const cell = `${row}c${j}`;
        out.push(() => cell);
        try {
          const inTry = `${cell}t`;
          out.push(() => inTry);
          if (j === 1) continue outer;
          if (i === 2) break outer;
          await echo(cell);
        } finally {
          const fin = `${cell}f`;
          out.push(() => fin);
        }
      }
    }
    const after = await this.returnsThroughFinally(limit);
    return { cells: out.map((f) => f()), after };
  }

  async returnsThroughFinally(n: number) {
    const log: Array<() => number> = [];
    for (let k = 0; k < n; k++) {
      const kk = k * 10;
      log.push(() => kk + k);
      try {
        if (k === 1) return log.map((f) => f());
      } finally {
        const fin = k;
        log.push(() => -fin);
      }
    }
    return log.map((f) => f());
  }
}

@workflow
export class FibersKeepTheirEnvironments extends Workflow {
  async run(items: number[]) {
    const started: Array<Promise<string>> = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      let note = `start${i}`;
      started.push(
        (async () => {
          const d = await double(item);
          note += `-after${d}`;
          return `${i}:${note}`;
        })(),
      );
      note += "-sync";
    }
    const results = await Promise.all(started);
    let counter = 0;
    const bumpers = items.map((n) => async () => {
      const v = await echo(n);
      counter += v;
      return counter;
    });
    const bumped: number[] = [];
    for (const b of bumpers) bumped.push(await b());
    return { results, bumped, counter };
  }
}

@workflow
export class ErrorsThroughBlocks extends Workflow {
  async run(n: number) {
    const trace: Array<() => string> = [];
    let caughtAt = "";
    try {
      for (const i of [1, 2, 3]) {
        const label = `i${i}`;
        trace.push(() => label);
        {
          const inner = `${label}-inner`;
          trace.push(() => inner);
          if (i === n) throw new RangeError(`stop at ${inner}`);
        }
      }
    } catch (e) {
      caughtAt = (e as Error).message;
      const inCatch = "catch-scope";
      trace.push(() => inCatch);
    }
    const outerVar = "outer";
    trace.push(() => outerVar);
    return { caughtAt, trace: trace.map((f) => f()) };
  }
}

export const cases = [
  ...casesOf(ShadowingBlocks, [1], [-1]),
  ...casesOf(CapturedSwitchAndCatch, [["a", "b", "c"]]),
  ...casesOf(JumpsOutOfCapturedBlocks, [3], [1]),
  ...casesOf(FibersKeepTheirEnvironments, [[1, 2, 3]]),
  ...casesOf(ErrorsThroughBlocks, [2], [5]),
];
