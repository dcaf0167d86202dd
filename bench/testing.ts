/**
 * The speed of waymark/testing (`npm run bench:testing`): a test of a 10-step workflow (ten
 * action calls, two durable sleeps, one failed attempt retried after a backoff), as a user writes
 * it: a fresh environment, a mock, `env.run()`, a check of the result and of the calls, and close.
 * 1,000 such tests one after another (as node:test runs a file's tests), then 1,000 at once (as
 * ava does). Prints the headline and a JSON line.
 *
 *   node dist/bench/testing.js [--tests 1000]
 */
import { parseArgs } from "node:util";
import { action, sleep, workflow, Workflow } from "../sdk/index.js";
import { TestEnvironment } from "../testing/index.js";

const HOUR = 3_600_000;

export const benchStep = action("bench.testing.step", async function benchStep(n: number): Promise<number> {
  return n + 1;
});

export const benchFlaky = action("bench.testing.flaky", async function benchFlaky(n: number): Promise<number> {
  return n + 1;
});

@workflow
export class TenStepWorkflow extends Workflow {
  async run(start: number) {
    let n = start;
    for (let i = 0; i < 4; i++) n = await benchStep(n);
    await sleep(HOUR);
    n = await this.runAction(benchFlaky(n), { retry: { attempts: 3 }, backoff: { baseDelayMs: 1_000 } });
    for (let i = 0; i < 4; i++) n = await benchStep(n);
    await sleep(24 * HOUR);
    return await benchStep(n);
  }
}

/** One test, as a user writes it; throws if the workflow did not do what it should. */
async function oneTest(i: number): Promise<void> {
  const env = await TestEnvironment.create({ now: 0 });
  try {
    env.mockAction(benchFlaky, async (n: number) => n + 1, { failFirst: 1 });
    const result = await env.run(TenStepWorkflow, [i]);
    const attempts = env
      .calls(benchFlaky)
      .map((c) => c.outcome.status)
      .join(",");
    if (result !== i + 10 || attempts !== "failed,completed" || env.now() !== 25 * HOUR + 1_000) {
      throw new Error(`test ${i}: result ${String(result)}, attempts ${attempts}, clock ${env.now()}`);
    }
  } finally {
    await env.close();
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const round = (ms: number) => Math.round(ms * 100) / 100;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { tests: { type: "string", default: "1000" } } });
  const n = Number(values.tests);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--tests must be a whole number >= 1, got ${values.tests}`);

  const coldStart = performance.now();
  await oneTest(-1);
  const coldMs = performance.now() - coldStart;

  const each: number[] = [];
  const sequentialStart = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await oneTest(i);
    each.push(performance.now() - t0);
  }
  const sequentialMs = performance.now() - sequentialStart;

  const concurrentStart = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => oneTest(i)));
  const concurrentMs = performance.now() - concurrentStart;

  each.sort((a, b) => a - b);
  const summary = {
    scenario: "testing-10-steps",
    tests: n,
    coldMs: round(coldMs),
    p50Ms: round(percentile(each, 0.5)),
    p99Ms: round(percentile(each, 0.99)),
    maxMs: round(each.at(-1)!),
    sequentialMs: Math.round(sequentialMs),
    concurrentMs: Math.round(concurrentMs),
  };
  console.log(
    `waymark/testing: ${n} tests of a 10-step workflow (two sleeps, one retry) in ${(sequentialMs / 1000).toFixed(2)} s one after another ` +
      `(${summary.p50Ms} ms per test p50, ${summary.p99Ms} ms p99; the first ${summary.coldMs} ms), ${(concurrentMs / 1000).toFixed(2)} s all at once`,
  );
  console.log(JSON.stringify(summary));
}

await main();
