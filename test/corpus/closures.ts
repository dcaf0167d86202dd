import { workflow, Workflow } from "waymark";
import { double, echo, fail } from "./actions.js";
import { casesOf } from "./case.js";

/** Closures created in loops see their own iteration's bindings, as in JavaScript. */
@workflow
export class LoopClosuresPerIteration extends Workflow {
  async run(items: string[]) {
    const fromForOf: Array<() => string> = [];
    for (const item of items) {
      const upper = item.toUpperCase();
      fromForOf.push(() => `${item}/${upper}`);
    }
    const fromCounter: Array<() => number> = [];
    for (let i = 0; i < items.length; i++) fromCounter.push(() => i);
    const fromCounterBody: Array<() => number> = [];
    for (let i = 0; i < 3; i++) {
      const sq = i * i;
      fromCounterBody.push(() => sq + i);
      i += 0;
    }
    const fromVar: Array<() => number> = [];
    for (var v = 0; v < 3; v++) fromVar.push(() => v);
    const fromWhile: Array<() => number> = [];
    let w = 0;
    while (w < 3) {
      const snapshot = w;
      fromWhile.push(() => snapshot * 10);
      w++;
    }
    const mutated: Array<() => number> = [];
    for (let j = 0; j < 3; j++) {
      mutated.push(() => j);
      j++;
    }
    const shared: Array<() => number> = [];
    let outerCount = 0;
    for (const _ of [1, 2, 3]) shared.push(() => outerCount++);
    return {
      forOf: fromForOf.map((f) => f()),
      counter: fromCounter.map((f) => f()),
      counterBody: fromCounterBody.map((f) => f()),
      fromVar: fromVar.map((f) => f()),
      fromWhile: fromWhile.map((f) => f()),
      mutated: mutated.map((f) => f()),
      shared: shared.map((f) => f()),
      outerCount,
    };
  }
}

/** Async arrows created in a loop, awaited after the loop moved on. */
@workflow
export class AsyncClosuresInLoops extends Workflow {
  async run(ids: number[]) {
    const pending: Array<Promise<string>> = [];
    for (const id of ids) {
      const label = `item-${id}`;
      pending.push((async () => `${label}:${await double(id)}`)());
    }
    const later: Array<() => Promise<number>> = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      later.push(async () => (await double(id)) + i);
    }
    const started = await Promise.all(pending);
    const deferred = await Promise.all(later.map((f) => f()));
    const viaMap = await Promise.all(
      ids.map(async (id, index) => {
        const first = await double(id);
        const second = await echo(`${index}:${first}`);
        return second;
      }),
    );
    return { started, deferred, viaMap };
  }
}

/** Closures capture variables, not values: later writes are seen, and writes inside are visible outside. */
@workflow
export class ClosureCaptureSemantics extends Workflow {
  async run(start: number) {
    let counter = start;
    const inc = () => ++counter;
    const read = () => counter;
    inc();
    counter += 10;
    const afterWrite = read();
    const makeAdder = (n: number) => (m: number) => n + m;
    const add5 = makeAdder(5);
    const add10 = makeAdder(10);
    const compose = (f: (x: number) => number, g: (x: number) => number) => (x: number) => g(f(x));
    const both = compose(add5, add10);
    const total = await double(both(counter));
    const memo: Record<string, number> = {};
    const cached = (k: string) => (memo[k] ??= k.length * counter);
    cached("abc");
    counter = 0;
    const cachedAgain = cached("abc");
    const fresh = cached("zz");
    {
      const blockScoped = "block";
      var fromBlock = () => blockScoped;
    }
    let shadow = "outer";
    const readShadow = () => shadow;
    {
      const shadow = "inner";
      void shadow;
    }
    shadow = "outer2";
    return { counter, afterWrite, a: add5(1), b: add10(1), total, cachedAgain, fresh, memo, block: fromBlock(), readShadow: readShadow() };
  }
}

/** A closure kept across awaits: it must survive a snapshot of the interpreter state. */
@workflow
export class ClosuresAcrossAwaits extends Workflow {
  async run(factor: number) {
    const fns: Array<(x: number) => number> = [];
    for (const k of [1, 2, 3]) {
      const scaled = k * factor;
      fns.push((x) => x + scaled);
      await echo(k);
    }
    let acc = 0;
    const bump = (n: number) => (acc += n);
    for (const f of fns) bump(f(await double(1)));
    const sorted = [3, 1, 2].sort((a, b) => fns[0]!(a) - fns[0]!(b));
    return { acc, sorted, results: fns.map((f) => f(0)) };
  }
}

/** try/catch/finally in loops with closures over the loop variables and the catch binding. */
@workflow
export class ClosuresWithTryAndBreak extends Workflow {
  async run(values: number[]) {
    const seen: Array<() => string> = [];
    for (const v of values) {
      try {
        const tag = `v${v}`;
        if (v < 0) throw new Error(`negative ${v}`);
        seen.push(() => tag);
        if (v > 100) break;
        if (v === 0) continue;
        seen.push(() => `${tag}!`);
      } catch (e) {
        seen.push(() => (e as Error).message);
      } finally {
        const fin = `fin${v}`;
        seen.push(() => fin);
      }
    }
    const labeled: Array<() => string> = [];
    outer: for (const a of ["a", "b"]) {
      for (const b of ["x", "y"]) {
        const pair = a + b;
        labeled.push(() => pair);
        if (b === "x") continue outer;
      }
    }
    return { seen: seen.map((f) => f()), labeled: labeled.map((f) => f()) };
  }
}

/** Closures from helpers, recursive async arrows, do-while and switch blocks, try/finally in parallel arrows. */
@workflow
export class ClosuresEverywhere extends Workflow {
  async run(n: number) {
    const adders = this.makeAdders(n);
    await double(1);
    const walk = async (k: number): Promise<number> => (k <= 0 ? 0 : k + (await walk(k - 1)));
    const walked = await walk(n);
    const out: Array<() => string> = [];
    let i = 0;
    do {
      const label = `do${i}`;
      out.push(() => label);
      i++;
    } while (i < 3);
    for (const x of [1, 2, 3]) {
      if (x % 2) {
        const odd = `odd${x}`;
        out.push(() => odd + x);
      }
      switch (x) {
        case 2: {
          const two = "two";
          out.push(() => two);
          continue;
        }
      }
      out.push(() => `end${x}`);
    }
    const results = await Promise.all(
      [1, 2, 3].map(async (v) => {
        const log: string[] = [];
        try {
          if (v === 2) await fail("Custom", `failed ${v}`);
          log.push(`ok${v}`);
        } catch (e) {
          log.push((e as Error).message);
        } finally {
          log.push(String(await double(v)));
        }
        return log;
      }),
    );
    return { adders: adders.map((f) => f(1)), walked, out: out.map((f) => f()), results, withDefault: this.withDefault() };
  }

  makeAdders(n: number) {
    const list: Array<(x: number) => number> = [];
    for (let k = 0; k < n; k++) list.push((x) => x + k * n);
    return list;
  }

  withDefault(v = this.base() * 2) {
    return v;
  }

  base() {
    return 21;
  }
}

export const cases = [
  ...casesOf(ClosuresEverywhere, [3], [0]),
  ...casesOf(LoopClosuresPerIteration, [["a", "b", "c"]]),
  ...casesOf(AsyncClosuresInLoops, [[1, 2, 3]], [[]]),
  ...casesOf(ClosureCaptureSemantics, [1]),
  ...casesOf(ClosuresAcrossAwaits, [10]),
  ...casesOf(ClosuresWithTryAndBreak, [[1, 0, -2, 3, 200, 4]]),
];
