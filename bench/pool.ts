/**
 * The child pool on its own, without Postgres: what one action costs in a child's runner, and
 * how many no-op actions the pool moves per second over IPC. Run by hand after `npm run build`:
 *
 *   node dist/bench/pool.js [--tasks 200000]
 */
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { TaskRunner } from "../child/runner.js";
import { createLogger } from "../log/logger.js";
import { action } from "../sdk/action.js";
import { ChildPool } from "../supervisor/pool.js";
import type { Task } from "../child/protocol.js";

const WORKFLOWS = fileURLToPath(new URL("./workflows.js", import.meta.url));
const INSTANCE = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const task = (i: number, round: number): Task => ({
  id: `${INSTANCE}/${round}${i}/1`,
  action: "noop",
  args: [i],
  instanceId: INSTANCE,
  actionId: String(i),
  attempt: 1,
});

/** µs per task of the runner alone (no IPC): ~40 tasks in flight, as the pool keeps them. */
async function runner(n: number): Promise<number> {
  action(async function noop(i: number) {
    return i;
  });
  let done = 0;
  let sent = 0;
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const r = new TaskRunner(10, (results) => {
      done += results.length;
      if (done === n) resolve();
      while (sent < n && sent - done < 40) r.run(Array.from({ length: Math.min(40, n - sent) }, () => task(sent++, 0)));
    });
    r.run(Array.from({ length: 40 }, () => task(sent++, 0)));
  });
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};

/** The pool with 2 children x 10 slots: tasks/s, and CPU µs per task in the supervisor side and the children. */
async function pool(n: number, round: number): Promise<{ perS: number; parentUs: number; childrenUs: number }> {
  const p = new ChildPool({
    workerCount: 2,
    concurrency: 10,
    maxLifecycle: undefined,
    modules: [WORKFLOWS],
    log: createLogger({ level: "error", component: "pool" }),
  });
  await p.start();
  const pids = p.children().map((c) => c.pid);
  const c0 = pids.map(cpuMs);
  const p0 = process.cpuUsage();
  const t0 = Date.now();
  let done = 0;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const feed = () => {
      while (sent < n && p.queued < 2000) p.submit(task(sent++, round));
    };
    p.on("result", () => {
      if (++done === n) resolve();
      else if (p.queued < 500) feed();
    });
    feed();
  });
  const ms = Date.now() - t0;
  const used = process.cpuUsage(p0);
  const children = pids.reduce((sum, pid, i) => sum + cpuMs(pid) - c0[i]!, 0);
  await p.stop(1000);
  return { perS: Math.round((n / ms) * 1000), parentUs: +((used.user + used.system) / n).toFixed(1), childrenUs: +((children * 1000) / n).toFixed(1) };
}

const { values } = parseArgs({ options: { tasks: { type: "string", default: "200000" } } });
const n = Number(values.tasks);
for (let i = 1; i <= 3; i++) console.log(`runner, round ${i}: ${(await runner(n)).toFixed(2)} µs per no-op task`);
for (let i = 1; i <= 3; i++) {
  const r = await pool(Math.round(n / 2), i);
  console.log(`pool, round ${i}: ${r.perS.toLocaleString("en-US")} tasks/s; supervisor side ${r.parentUs} µs/task, children ${r.childrenUs} µs/task (CPU)`);
}
