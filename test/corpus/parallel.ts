import { BackoffPolicy, RetryPolicy, sleep, workflow, Workflow } from "waymark";
import { setTimeout as delay } from "node:timers/promises";
import { add, double, echo, evenOnly, fail, fetchUser, greet, wait } from "./actions.js";
import { casesOf } from "./case.js";

@workflow
export class AllOverCalls extends Workflow {
  async run(a: number, b: number) {
    const [x, y, z] = await Promise.all([double(a), add(a, b), greet("p")]);
    const { 0: first, length } = await Promise.all([echo(1), echo(2)]);
    const empty = await Promise.all([]);
    const mixed = await Promise.all([double(1), 42, "plain", echo(null)]);
    const started = double(b);
    const other = add(1, 2);
    const later = [await started, await other];
    return { x, y, z, first, length, empty, mixed, later };
  }
}

@workflow
export class AllOverMap extends Workflow {
  async run(items: number[]) {
    const doubled = await Promise.all(items.map((x) => double(x)));
    const withIndex = await Promise.all(items.map((x, i) => add(x, i)));
    const users = await Promise.all(items.map((n) => fetchUser(`u${n}`)));
    const active = users.filter((u) => u.active).map((u) => u.name);
    const pipelines = await Promise.all(
      items.map(async (x) => {
        const d = await double(x);
        if (d > 4) return `big ${d}`;
        const e = await add(d, 100);
        return `small ${e}`;
      }),
    );
    const nested = await Promise.all(items.map(async (x) => Promise.all([double(x), echo(`n${x}`)])));
    const grouped = await Promise.all([Promise.all(items.map((x) => double(x))), Promise.allSettled(items.map((x) => evenOnly(x))), echo("single")]);
    return { doubled, withIndex, active, pipelines, nested, grouped };
  }
}

@workflow
export class AllSettledShapes extends Workflow {
  async run(values: number[]) {
    const settled = await Promise.allSettled(values.map((v) => evenOnly(v)));
    const summary = settled.map((s) => (s.status === "fulfilled" ? `ok ${s.value}` : `err ${(s.reason as Error).name} ${(s.reason as Error).message}`));
    const mixed = await Promise.allSettled([echo("a"), fail("Custom", "boom"), 7]);
    const asyncSettled = await Promise.allSettled(
      values.map(async (v) => {
        if (v > 2) throw new Error(`too big ${v}`);
        return v;
      }),
    );
    return {
      summary,
      mixed: mixed.map((m) => m.status),
      reasons: mixed.map((m) => (m.status === "rejected" ? (m.reason as Error).message : m.value)),
      asyncSettled,
    };
  }
}

@workflow
export class AllRejectsOnFirstFailure extends Workflow {
  async run(values: number[]) {
    let caught = "none";
    try {
      await Promise.all(values.map((v) => evenOnly(v)));
    } catch (e) {
      caught = `${(e as Error).name}: ${(e as Error).message}`;
    }
    let fromAsync = "none";
    try {
      await Promise.all(
        values.map(async (v) => {
          const d = await double(v);
          if (d === 6) throw new TypeError(`six from ${v}`);
          return d;
        }),
      );
    } catch (e) {
      fromAsync = (e as Error).message;
    }
    const fine = await Promise.all(values.filter((v) => v % 2 === 0).map((v) => evenOnly(v)));
    return { caught, fromAsync, fine };
  }
}

@workflow
export class AllFailsWorkflow extends Workflow {
  async run(values: number[]) {
    return Promise.all(values.map((v) => evenOnly(v)));
  }
}

@workflow
export class SleepsAndTimers extends Workflow {
  async run(ms: number) {
    const before = await echo("before");
    await sleep(ms);
    const timed = await delay(ms, "timer value");
    const [slow, fast] = await Promise.all([wait(15, "slow"), wait(1, "fast")]);
    const raced = await Promise.all([sleep(ms), double(3)]);
    return { before, timed, slow, fast, raced };
  }
}

const RETRY = new RetryPolicy({ attempts: 3, exceptionTypes: ["NetworkError", "ActionTimeout"] });

@workflow
export class ActionsAsValues extends Workflow {
  async run(ids: string[]) {
    const users = await Promise.all(ids.map(fetchUser));
    const fn = double;
    const viaVariable = await fn(21);
    const table = { greet, double };
    const viaObject = await table.greet("obj");
    const pick = ids.length > 1 ? greet : echo;
    const picked = await pick("chosen");
    const optioned = await this.runAction(double(5), { timeoutMs: 60_000, retry: { attempts: 2 } });
    const policies = await this.runAction(add(2, 3), { retry: RETRY, backoff: new BackoffPolicy({ baseDelayMs: 10, multiplier: 2, maxDelayMs: 100 }) });
    const started = this.runAction(greet("later"));
    return { names: users.map((u) => u.name), viaVariable, viaObject, picked, optioned, policies, later: await started };
  }
}

/** A promise not yet awaited, looked at as a value: it shows nothing of its call. */
@workflow
export class PromiseSeenAsAValue extends Workflow {
  async run(n: number) {
    const p = double(n);
    const text = `${p}`;
    const json = JSON.stringify({ p, n });
    const v = await p;
    return { text, json, v };
  }
}

export const cases = [
  ...casesOf(AllOverCalls, [2, 3]),
  ...casesOf(AllOverMap, [[1, 2, 3]], [[]]),
  ...casesOf(AllSettledShapes, [[1, 2, 3, 4]]),
  ...casesOf(AllRejectsOnFirstFailure, [[2, 4, 3, 6]], [[2, 4]]),
  ...casesOf(AllFailsWorkflow, [[2, 5]], [[2, 4]]),
  ...casesOf(SleepsAndTimers, [5]),
  ...casesOf(ActionsAsValues, [["u1", "u2"]], [["u3"]]),
  ...casesOf(PromiseSeenAsAValue, [7]),
];
