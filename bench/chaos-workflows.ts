/**
 * The chaos soak's workflow and actions (`npm run chaos`). The soak's `waymark supervise`
 * processes load this module (dist/bench/chaos-workflows.js) as WAYMARK_USER_MODULE; the soak
 * queues the workflow and checks every result against `expectedResult`, computed here without
 * waymark.
 *
 * Every execution of an action is noted in CHAOS_DIR/exec-<pid>.log, one file per child (so no
 * two processes append to the same file): `S <ms> <instance> <call> <attempt> <action> <key>` when
 * it starts and `E <ms> <instance> <call> <attempt>` when it returns. A child killed mid-action
 * leaves an S without its E.
 */
import { appendFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { action, actionContext, sleep, workflow, Workflow } from "../sdk/index.js";

/** Sleeps below WAYMARK_EVICT_SLEEP_THRESHOLD_MS stay in memory; the soak sets it to 2 s. */
export const EVICT_THRESHOLD_MS = 2000;
export const LONG_SLEEP_MS = 3000;

/** FNV-1a of a string and a number: a deterministic stand-in for real work. */
export function mix(x: number, salt: number | string): number {
  let h = 0x811c9dc5 ^ x;
  for (const ch of `${x}:${salt}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

/** How long `work(key, i)` takes: 100-900 ms, a function of its inputs. */
export function workMs(key: string, i: number): number {
  return 100 + (mix(i, key) % 800);
}

function note(line: string): void {
  const dir = process.env.CHAOS_DIR;
  if (dir) appendFileSync(path.join(dir, `exec-${process.pid}.log`), `${line}\n`);
}

async function noted<T>(name: string, key: string, ms: number, value: () => T): Promise<T> {
  const { instanceId, actionId, attempt } = actionContext();
  note(`S ${Date.now()} ${instanceId} ${actionId} ${attempt} ${name} ${key}`);
  await delay(ms);
  const v = value();
  note(`E ${Date.now()} ${instanceId} ${actionId} ${attempt}`);
  return v;
}

export const work = action(async function work(key: string, i: number, x: number) {
  return noted("work", key, workMs(key, i), () => mix(x, i));
});

/** The last call of every instance: its executions are the instance's completions, as seen by actions. */
export const finish = action(async function finish(key: string, x: number) {
  return noted("finish", key, 50, () => mix(x, `done:${key}`));
});

export interface ChaosArgs {
  key: string;
  seed: number;
  /** Calls in the fan-out. */
  width: number;
  /** Sequential calls after it. */
  steps: number;
  /** Whether it also sleeps LONG_SLEEP_MS (out of memory, woken by any supervisor). */
  long: boolean;
}

/** A fan-out, sleeps in memory and out of it, sequential steps, and a final call. */
@workflow
export class ChaosWorkflow extends Workflow {
  async run(a: ChaosArgs) {
    let x = await work(a.key, 0, a.seed);
    const parts = await Promise.all(Array.from({ length: a.width }, (_, i) => work(a.key, 100 + i, x)));
    x = parts.reduce((sum, p) => (sum + p) % 1_000_000_007, 0);
    await sleep(500);
    for (let i = 1; i <= a.steps; i++) x = await work(a.key, i, x);
    if (a.long) await sleep(LONG_SLEEP_MS);
    x = await work(a.key, 50, x);
    await sleep(300);
    return { key: a.key, value: await finish(a.key, x) };
  }
}

/** What `ChaosWorkflow` must return for `a`: the same arithmetic, run directly. */
export function expectedResult(a: ChaosArgs): { key: string; value: number } {
  let x = mix(a.seed, 0);
  const parts = Array.from({ length: a.width }, (_, i) => mix(x, 100 + i));
  x = parts.reduce((sum, p) => (sum + p) % 1_000_000_007, 0);
  for (let i = 1; i <= a.steps; i++) x = mix(x, i);
  x = mix(x, 50);
  return { key: a.key, value: mix(x, `done:${a.key}`) };
}
