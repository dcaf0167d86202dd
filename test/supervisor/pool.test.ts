import test from "ava";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createLogger } from "../../log/logger.js";
import { channelGone, ChildPool, type PoolResult } from "../../supervisor/pool.js";

test("the shutdown grace period ends on its timer even when the wall clock lags it (a timer can fire a millisecond early)", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-pool-"));
  const pool = new ChildPool({
    workerCount: 1,
    concurrency: 2,
    maxLifecycle: undefined,
    modules: ["test/fixtures/workflows/pool.ts"],
    log: createLogger({ level: "error", component: "pool" }),
    env: { TEST_DIR: dir },
  });
  await pool.start();
  const lost: string[] = [];
  pool.on("lost", ({ ids }: { ids: string[] }) => lost.push(...ids));
  const started = new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      try {
        if (readFileSync(path.join(dir, "abortable.txt"), "utf8").includes("start lag 1")) {
          clearInterval(poll);
          resolve();
        }
      } catch {
        // not written yet
      }
    }, 10);
  });
  pool.on("result", (r: PoolResult) => t.fail(`no result was expected, got ${JSON.stringify(r)}`));
  pool.submit({ id: "i1:0:1", action: "abortable", args: ["lag"], instanceId: "i1", actionId: "0", attempt: 1 });
  await started;
  // A wall clock running at half speed: every deadline check made when a timer fires finds it
  // not yet due. Only the timers may end the waits.
  const realNow = Date.now;
  const t0 = realNow();
  Date.now = () => t0 + (realNow() - t0) / 2;
  try {
    await pool.stop(200, 200);
  } finally {
    Date.now = realNow;
  }
  t.deepEqual(lost, ["i1:0:1"], "the action was aborted by the shutdown and counts as lost");
  t.deepEqual(readFileSync(path.join(dir, "abortable.txt"), "utf8").trim().split("\n"), ["start lag 1", "aborted lag 1", "cleanup lag 1"]);
});

test("a retiring child's last results reach the supervisor, however large (none is lost and run again)", async (t) => {
  const pool = new ChildPool({
    workerCount: 1,
    concurrency: 2,
    maxLifecycle: 2,
    modules: ["test/fixtures/workflows/pool.ts"],
    log: createLogger({ level: "error", component: "pool" }),
  });
  await pool.start();
  const sizes = new Map<string, number>();
  const lost: string[] = [];
  const n = 8;
  const done = new Promise<void>((resolve) => {
    const check = () => sizes.size + lost.length === n && resolve();
    pool.on("result", (r: PoolResult) => {
      sizes.set(r.id, r.ok ? (r.value as string).length : -1);
      check();
    });
    pool.on("lost", ({ ids }: { ids: string[] }) => {
      lost.push(...ids);
      check();
    });
  });
  // Every second task is a child's last: it exits right after sending 4 MB.
  for (let i = 0; i < n; i++) pool.submit({ id: `t${i}`, action: "big", args: [4_000_000], instanceId: `i${i}`, actionId: "0", attempt: 1 });
  await done;
  await pool.stop(1000);
  t.deepEqual(lost, [], "no attempt was lost");
  t.deepEqual([...sizes.values()], Array(n).fill(4_000_000));
  t.is(pool.recycled, n / 2);
});

test("an abort issued in the same tick as its task reaches the child after it: the task, queued behind another, never starts", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-pool-"));
  const pool = new ChildPool({
    workerCount: 1,
    concurrency: 1,
    maxLifecycle: undefined,
    modules: ["test/fixtures/workflows/pool.ts"],
    log: createLogger({ level: "error", component: "pool" }),
    env: { TEST_DIR: dir },
  });
  await pool.start();
  const result = new Promise<PoolResult>((resolve) => pool.on("result", (r: PoolResult) => r.id === "c1:0:1" && resolve(r)));
  // The child's one slot is busy, so the next task waits in its queue.
  pool.submit({ id: "busy:0:1", action: "slow", args: ["busy", 300], instanceId: "busy", actionId: "0", attempt: 1 });
  await new Promise((r) => setTimeout(r, 50));
  pool.submit({ id: "c1:0:1", action: "step", args: [1, 0], instanceId: "c1", actionId: "0", attempt: 1 });
  pool.abort(["c1:0:1"], "cancelled");
  const r = await result;
  await pool.stop(1000);
  t.false(r.ok);
  t.is(!r.ok && r.error.name, "WaymarkError");
  t.regex(!r.ok ? r.error.message : "", /cancelled/);
  t.throws(() => readFileSync(path.join(dir, "steps.txt"), "utf8"), { code: "ENOENT" }, "the action never ran");
});

test("spawn-before-retire: a child takes the task that ends its lifecycle only after its successor has loaded", async (t) => {
  const pool = new ChildPool({
    workerCount: 1,
    concurrency: 5,
    maxLifecycle: 10,
    modules: ["test/fixtures/workflows/pool.ts"],
    log: createLogger({ level: "error", component: "pool" }),
  });
  const readyAt = new Map<number, number>();
  pool.on("ready", ({ pid }: { pid: number }) => readyAt.set(pid, Date.now()));
  await pool.start();
  const results: PoolResult[] = [];
  const n = 60;
  await new Promise<void>((resolve) => {
    pool.on("result", (r: PoolResult) => {
      results.push(r);
      if (results.length === n) resolve();
    });
    for (let i = 0; i < n; i++) pool.submit({ id: `s${i}`, action: "whichPid", args: [i], instanceId: `s${i}`, actionId: "0", attempt: 1 });
  });
  await pool.stop(1000);
  t.true(results.every((r) => r.ok));
  // Children in the order they became ready; each one's last task started after the next was ready.
  const order = [...readyAt.entries()].sort((a, b) => a[1] - b[1]).map(([pid]) => pid);
  let checked = 0;
  for (let i = 0; i + 1 < order.length; i++) {
    const own = results.filter((r) => r.pid === order[i]);
    if (own.length < 10) continue;
    t.is(own.length, 10);
    const lastStart = Math.max(...own.map((r) => r.startedAt!));
    t.true(lastStart >= readyAt.get(order[i + 1]!)!, `child ${order[i]} took its last task before ${order[i + 1]} was ready`);
    checked++;
  }
  t.true(checked >= 4, `${checked} retirements checked`);
});

/**
 * Blocks this process (its event loop included) until the process `pid` has fully exited: every
 * thread gone, so its end of the IPC channel is closed, but not yet reaped, so the pool has not
 * heard of it. (The group leader shows "Z" while its other threads may still hold the files.)
 */
function waitUntilDeadUnnoticed(pid: number): void {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0];
    if (state === "Z" && readdirSync(`/proc/${pid}/task`).length === 1) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not exit`);
  }
}

test("a task sent to a child that was just killed (write EPIPE) is logged below error level, reported lost, and the child replaced", async (t) => {
  const lines: Array<{ level: string; message: string; code?: string; error?: { message: string } }> = [];
  const pool = new ChildPool({
    workerCount: 1,
    concurrency: 2,
    maxLifecycle: undefined,
    modules: ["test/fixtures/workflows/pool.ts"],
    log: createLogger({ level: "debug", format: "json", component: "pool", write: (line) => lines.push(JSON.parse(line)) }),
  });
  await pool.start();
  // The pool's respawn timer is unref'd (a supervisor has its own reasons to stay alive): this
  // test process must not run out of work while it waits for the replacement.
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  const lost = new Promise<{ ids: string[] }>((resolve) => pool.once("lost", resolve));
  const replaced = new Promise<void>((resolve) => pool.once("ready", () => resolve()));
  const [child] = pool.children();
  process.kill(child!.pid, "SIGKILL");
  waitUntilDeadUnnoticed(child!.pid);
  // The pool still holds the child as ready: the task goes to it, and the write fails with EPIPE.
  pool.submit({ id: "e1:0:1", action: "step", args: [1, 0], instanceId: "e1", actionId: "0", attempt: 1 });
  t.deepEqual((await lost).ids, ["e1:0:1"], "the task sent to the dead child is reported lost (and so retried)");
  await replaced;
  await pool.stop(1000);
  const epipe = lines.filter((l) => l.code === "EPIPE" || /EPIPE/.test(l.error?.message ?? ""));
  t.true(epipe.length >= 1, `the failed write was logged: ${JSON.stringify(lines)}`);
  t.true(
    epipe.every((l) => l.level === "debug"),
    `logged at debug: ${JSON.stringify(epipe)}`,
  );
  t.deepEqual(
    lines.filter((l) => l.level === "error"),
    [],
    "nothing at error level: the kill is reported once, as a warning that the worker died",
  );
  t.true(lines.some((l) => l.level === "warn" && /worker process died/.test(l.message)));
});

test("only errors of a channel that is gone count as expected: any other child process error stays an error", (t) => {
  for (const code of ["EPIPE", "ECONNRESET", "ERR_IPC_CHANNEL_CLOSED", "ERR_IPC_DISCONNECTED"])
    t.true(channelGone(Object.assign(new Error(code), { code })), code);
  for (const e of [
    new Error("spawn failed"),
    Object.assign(new Error("x"), { code: "ENOENT" }),
    Object.assign(new Error("x"), { code: "EAGAIN" }),
    null,
    "EPIPE",
  ])
    t.false(channelGone(e), String(e));
});
