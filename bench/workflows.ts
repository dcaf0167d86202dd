/**
 * The bench's workflows and actions. `waymark supervise` loads this module (compiled to
 * dist/bench/workflows.js) as WAYMARK_USER_MODULE; the bench process queues the workflows.
 */
import { appendFileSync } from "node:fs";
import { action, sleep, waitForEvent, workflow, Workflow } from "../sdk/index.js";

/** The wall clock with sub-millisecond resolution, comparable across processes. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

export const noop = action(async function noop(i: number) {
  return i;
});

/** Returns when it started, for start() -> first action latency. */
export const stamp = action(async function stamp() {
  return wallClock();
});

@workflow
export class FanOut extends Workflow {
  async run(width: number) {
    const items = Array.from({ length: width }, (_, i) => i);
    const results = await Promise.all(items.map((i) => noop(i)));
    return results.length;
  }
}

@workflow
export class Tiny extends Workflow {
  async run(i: number) {
    return await noop(i);
  }
}

@workflow
export class Sequential extends Workflow {
  async run(steps: number) {
    let x = 0;
    for (let i = 0; i < steps; i++) x = await noop(x + 1);
    return x;
  }
}

@workflow
export class FirstAction extends Workflow {
  async run() {
    return await stamp();
  }
}

/** One instance of many steps, each reporting when it started (for per-step cost over time). */
@workflow
export class LongHistory extends Workflow {
  async run(steps: number) {
    const starts: number[] = [];
    for (let i = 0; i < steps; i++) starts.push(await stamp());
    return starts;
  }
}

/** Writes when it started to a file (a side channel: the workflow's state does not grow). */
export const stampTo = action(async function stampTo(file: string, i: number) {
  appendFileSync(file, `${i} ${wallClock()}\n`);
  return i + 1;
});

/** Many steps with a constant-size state: the engine's own cost per step, early and late. */
@workflow
export class LongLoop extends Workflow {
  async run(steps: number, file: string) {
    let i = 0;
    while (i < steps) i = await stampTo(file, i);
    return i;
  }
}

@workflow
export class Sleeper extends Workflow {
  async run(ms: number) {
    await sleep(ms);
    return await noop(1);
  }
}

/** Waits for a message named "go" (none comes in the bench): out of memory once idle. */
@workflow
export class Waiter extends Workflow {
  async run() {
    await waitForEvent("go");
    return await noop(1);
  }
}

/** Counts for ever between two awaits: the step limit ends it (bench/stall.ts). */
@workflow
export class Spin extends Workflow {
  async run() {
    let i = 0;
    while (i >= 0) i = (i + 1) % 1000;
  }
}

/** The same, inside a callback a built-in calls: no slice boundary until the callback returns. */
@workflow
export class SpinInCallback extends Workflow {
  async run() {
    return [1].map((x) => {
      while (true) x++;
    });
  }
}

/** Writes "start|end <wallClock>" to BENCH_LEDGER, for the limited scenario's peaks. */
function ledger(kind: string): void {
  if (process.env.BENCH_LEDGER) appendFileSync(process.env.BENCH_LEDGER, `${kind} ${wallClock()}\n`);
}

/** 20 ms of waiting, at most 5 at once across the cluster. */
export const limitedWork = action(
  async function limitedWork(i: number) {
    ledger("start");
    await new Promise((r) => setTimeout(r, 20));
    ledger("end");
    return i;
  },
  { concurrency: 5 },
);

/** At most 200 starts in any second across the cluster. */
export const ratedWork = action(
  async function ratedWork(i: number) {
    ledger("rate");
    return i;
  },
  { rateLimit: { limit: 200, periodMs: 1000 } },
);

@workflow
export class Limited extends Workflow {
  async run(calls: number) {
    const items = Array.from({ length: calls }, (_, i) => i);
    const results = await Promise.all(items.map((i) => limitedWork(i)));
    return results.length;
  }
}

@workflow
export class Rated extends Workflow {
  async run(calls: number) {
    const items = Array.from({ length: calls }, (_, i) => i);
    const results = await Promise.all(items.map((i) => ratedWork(i)));
    return results.length;
  }
}
