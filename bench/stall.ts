/**
 * How long one workflow's code can hold the supervisor's event loop: an endless loop run the way
 * a shard runs it (a slice of steps, then `setImmediate`, until the step limit fails it), while
 * the event loop's delay is sampled every millisecond. Run by hand after `npm run build`:
 *
 *   node dist/bench/stall.js [--limit 50000000]
 *
 * In the body of `run()` the interpreter hands the loop back every SLICE_STEPS steps; inside a
 * callback that a built-in calls (`list.map(...)`), it cannot, so the stall there is the whole
 * run to the step limit (the limit bounds it).
 */
import { parseArgs } from "node:util";
import { Machine } from "../interpreter/machine.js";
import { DEFAULT_STEP_LIMIT, SLICE_STEPS } from "../core/limits.js";
import { definitionOf } from "../sdk/definition.js";
import { Spin, SpinInCallback } from "./workflows.js";

async function measure(
  cls: unknown,
  limit: number,
): Promise<{ name: string; totalMs: number; maxStallMs: number; p99StallMs: number; slices: number; error: string }> {
  const def = definitionOf(cls);
  const m = Machine.start(def.compiled.ir, [], 0, { stepLimit: limit });
  // A 1 ms timer: the gaps between its ticks are how long the event loop was held.
  const gaps: number[] = [];
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  let slices = 0;
  let error = "";
  await new Promise<void>((resolve) => {
    const go = () => {
      try {
        m.run(0);
      } catch (e) {
        error = (e as Error).name;
        return resolve();
      }
      slices++;
      if (m.yielded()) setImmediate(go);
      else resolve();
    };
    setImmediate(go);
  });
  const totalMs = performance.now() - t0;
  // A last tick, so a stall at the very end is counted.
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(ticker);
  gaps.sort((a, b) => a - b);
  const p99 = gaps[Math.floor(gaps.length * 0.99)] ?? 0;
  return { name: def.name, totalMs: +totalMs.toFixed(1), maxStallMs: +(gaps.at(-1) ?? 0).toFixed(1), p99StallMs: +p99.toFixed(1), slices, error };
}

const { values } = parseArgs({ options: { limit: { type: "string", default: String(DEFAULT_STEP_LIMIT) }, json: { type: "boolean", default: false } } });
const limit = Number(values.limit);
console.log(`step limit ${limit}, slice ${SLICE_STEPS} steps`);
for (const cls of [Spin, SpinInCallback]) {
  const r = await measure(cls, limit);
  if (values.json) console.log(JSON.stringify(r));
  else
    console.log(
      `  ${r.name}: ended by ${r.error} after ${r.totalMs} ms in ${r.slices} slice(s); event loop stalled at most ${r.maxStallMs} ms (p99 ${r.p99StallMs} ms)`,
    );
}
