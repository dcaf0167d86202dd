/**
 * waymark's side of `npm run bench`: one function per scenario (SCENARIOS). Each runs against a
 * fresh schema and a fresh `waymark supervise` process and reports its own headline numbers;
 * the caller (bench/main.ts) takes medians over runs.
 */
import pg from "pg";
import { closeClient, sharedClient } from "../sdk/client.js";
import { cpuSampler, freshSchema, median, percentile, rssKb, rssSampler, sql, startSupervisor, type CpuShares, type RssStats } from "./harness.js";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FanOut, FirstAction, Limited, LongHistory, LongLoop, Rated, Sleeper, Tiny, Waiter, wallClock } from "./workflows.js";

export interface Sizes {
  fanoutActions: number;
  fanoutWidth: number;
  tinyInstances: number;
  sequentialInstances: number;
  sequentialSteps: number;
  latencySamples: number;
  longSteps: number;
  sleepers: number;
  limitedCalls: number;
  ratedCalls: number;
  enqueueInstances: number;
  /** Tiny instances a throughput scenario's pool works through, as a backlog, before its timed part. */
  warmupInstances: number;
}

export const FULL: Sizes = {
  fanoutActions: 20_000,
  fanoutWidth: 100,
  tinyInstances: 20_000,
  sequentialInstances: 50,
  sequentialSteps: 10,
  latencySamples: 500,
  longSteps: 2000,
  sleepers: 10_000,
  limitedCalls: 600,
  ratedCalls: 1000,
  enqueueInstances: 100_000,
  warmupInstances: 5_000,
};

export const SMOKE: Sizes = {
  fanoutActions: 200,
  fanoutWidth: 20,
  tinyInstances: 200,
  sequentialInstances: 3,
  sequentialSteps: 5,
  latencySamples: 10,
  longSteps: 30,
  sleepers: 100,
  limitedCalls: 20,
  ratedCalls: 20,
  enqueueInstances: 500,
  warmupInstances: 50,
};

export interface Metrics {
  scenario: string;
  actions_per_s?: number;
  instances_per_s?: number;
  p50_ms?: number;
  p95_ms?: number;
  p99_ms?: number;
  seconds: number;
  rss?: RssStats;
  cpu?: CpuShares;
  [extra: string]: unknown;
}

export interface Context {
  url: string;
  sizes: Sizes;
  env: Record<string, string>;
}

/**
 * Waits until every queued instance reached a final status. It asks only whether an unfinished
 * one is left (each EXISTS reads the first live entry of a claim's partial index), on one
 * connection: a count of the unfinished ones cost Postgres 15% of a tiny run's time, and a
 * connection per poll cost the measured runs ~25%. The peers are watched the same way.
 */
async function waitFinished(url: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (;;) {
      const { rows } = await c.query(
        `SELECT EXISTS (SELECT 1 FROM waymark.instances WHERE status = 'queued') OR EXISTS (SELECT 1 FROM waymark.instances WHERE status = 'running')
             OR EXISTS (SELECT 1 FROM waymark.instances WHERE status = 'sleeping') AS pending,
                EXISTS (SELECT 1 FROM waymark.instances WHERE status = 'failed') AS failed`,
      );
      if (rows[0].failed) throw new Error("bench instances failed");
      if (!rows[0].pending) return;
      if (Date.now() > deadline) throw new Error(`instances still unfinished after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await c.end();
  }
}

/**
 * A fresh schema and a fresh supervisor for one measurement. `before` runs first, with no
 * supervisor yet (the throughput scenarios queue their work there, as the peers' benches do, so
 * the measured time is the time to work through a full queue).
 */
async function withSupervisor<T extends Metrics>(
  ctx: Context,
  fn: (pid: number) => Promise<T>,
  env: Record<string, string> = {},
  before?: () => Promise<void>,
): Promise<T> {
  await freshSchema(ctx.url);
  process.env.WAYMARK_DATABASE_URL = ctx.url;
  if (before) {
    await before();
    await sql(ctx.url, "VACUUM ANALYZE waymark.instances");
    await sql(ctx.url, "CHECKPOINT");
  }
  const sup = await startSupervisor({ url: ctx.url, env: { ...ctx.env, ...env } });
  try {
    const cpu = cpuSampler(sup.pid);
    const m = await fn(sup.pid);
    // Scenarios that warm up first measure the CPU of their timed part themselves.
    m.cpu ??= cpu.stop();
    return m;
  } finally {
    await closeClient();
    await sup.stop();
  }
}

function latencies(scenario: string, samples: number[], seconds: number, extra: Record<string, unknown> = {}): Metrics {
  const s = [...samples].sort((a, b) => a - b);
  return {
    scenario,
    p50_ms: +percentile(s, 50).toFixed(2),
    p95_ms: +percentile(s, 95).toFixed(2),
    p99_ms: +percentile(s, 99).toFixed(2),
    seconds: +seconds.toFixed(2),
    ...extra,
  };
}

/**
 * Warms the supervisor and its children up, as a long-running pool is: V8 optimises a function
 * only after many calls, and with 200 instances of warm-up the first half second of a timed tiny
 * run went at half its later rate (finishes per 100 ms: 250, 635, 765, 735, 1,000 ... 1,500).
 * A backlog of `warmupInstances` (the timed part's path: claims of 200, batched writes) and 20
 * fan-outs reach the rate the rest of the run keeps. The peers' code is warmed too (bench/main.ts).
 */
async function warmUp(ctx: Context): Promise<void> {
  const width = Math.min(100, ctx.sizes.fanoutWidth);
  await Promise.all([...Array.from({ length: 20 }, () => new FanOut().run(width)), ...Array.from({ length: 200 }, (_, i) => new Tiny().run(i))]);
  await Tiny.startMany(Array.from({ length: ctx.sizes.warmupInstances }, (_, i) => [i] as [number]));
  await waitFinished(ctx.url);
}

/**
 * Queues `queue`'d work to become runnable all at once, `delayMs` from now, and times from then
 * until every instance finished: the time a warm pool takes to work through a full queue (what
 * the peers' benches measure too).
 */
async function backlog(ctx: Context, pid: number, queue: (delayMs: number) => Promise<void>): Promise<{ seconds: number; cpu: CpuShares }> {
  await warmUp(ctx);
  const delayMs = 3000;
  const runnableAt = performance.now() + delayMs;
  await queue(delayMs);
  const lead = runnableAt - performance.now();
  if (lead < 200) throw new Error(`queueing took longer than the ${delayMs} ms lead: raise it`);
  await new Promise((r) => setTimeout(r, lead));
  const cpu = cpuSampler(pid);
  const t0 = performance.now();
  await waitFinished(ctx.url);
  return { seconds: (performance.now() - t0) / 1000, cpu: cpu.stop() };
}

async function fanOut(ctx: Context): Promise<Metrics> {
  const { fanoutActions: total, fanoutWidth: width } = ctx.sizes;
  const instances = Math.ceil(total / width);
  return withSupervisor(ctx, async (pid) => {
    const rss = rssSampler(pid);
    const { seconds, cpu } = await backlog(ctx, pid, async (delayMs) => {
      await FanOut.startMany(
        Array.from({ length: instances }, () => [width]),
        { delayMs },
      );
    });
    return {
      scenario: "fan-out",
      actions_per_s: Math.round((instances * width) / seconds),
      instances_per_s: Math.round(instances / seconds),
      seconds: +seconds.toFixed(2),
      instances,
      width,
      rss: rss.stop(),
      cpu,
    };
  });
}

async function tiny(ctx: Context): Promise<Metrics> {
  const n = ctx.sizes.tinyInstances;
  return withSupervisor(ctx, async (pid) => {
    const rss = rssSampler(pid);
    let queueMs = 0;
    const { seconds, cpu } = await backlog(ctx, pid, async (delayMs) => {
      const t0 = performance.now();
      await Tiny.startMany(
        Array.from({ length: n }, (_, i) => [i] as [number]),
        { delayMs },
      );
      queueMs = Math.round(performance.now() - t0);
    });
    return {
      scenario: "tiny",
      instances_per_s: Math.round(n / seconds),
      actions_per_s: Math.round(n / seconds),
      seconds: +seconds.toFixed(2),
      queue_ms: queueMs,
      queued_per_s: Math.round(n / (queueMs / 1000)),
      instances: n,
      rss: rss.stop(),
      cpu,
    };
  });
}

/** Per-step overhead: the time between consecutive action starts of one sequential instance. */
async function sequential(ctx: Context): Promise<Metrics> {
  const { sequentialInstances: n, sequentialSteps: steps } = ctx.sizes;
  return withSupervisor(ctx, async (pid) => {
    const rss = rssSampler(pid);
    // Warm up: a fresh supervisor's first few hundred steps run colder code (the long-history
    // scenario shows it: its first 100 steps cost about twice its last 100).
    await new LongHistory().run(Math.min(300, steps * 30));
    const gaps: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const starts = await new LongHistory().run(steps);
      for (let k = 1; k < starts.length; k++) gaps.push(starts[k]! - starts[k - 1]!);
    }
    const seconds = (performance.now() - t0) / 1000;
    // Throughput with many sequential instances at once.
    const c0 = performance.now();
    const concurrent = 200;
    await Promise.all(Array.from({ length: concurrent }, () => new LongHistory().run(steps)));
    const cs = (performance.now() - c0) / 1000;
    return latencies("sequential", gaps, seconds, { steps, instances: n, concurrent_actions_per_s: Math.round((concurrent * steps) / cs), rss: rss.stop() });
  });
}

async function latency(ctx: Context): Promise<Metrics> {
  const n = ctx.sizes.latencySamples;
  return withSupervisor(ctx, async (pid) => {
    const rss = rssSampler(pid);
    const client = await sharedClient();
    await client.ready();
    // Warm up: version registration and connections.
    await new FirstAction().run();
    const toFirst: number[] = [];
    const roundTrip: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const s = wallClock();
      const handle = await new FirstAction().start([]);
      const firstStart = await handle.result();
      toFirst.push(firstStart - s);
      const r0 = performance.now();
      await new Tiny().run(i);
      roundTrip.push(performance.now() - r0);
    }
    const seconds = (performance.now() - t0) / 1000;
    const rt = [...roundTrip].sort((a, b) => a - b);
    return latencies("latency", toFirst, seconds, {
      metric: "start() -> first action starts",
      run_result_p50_ms: +percentile(rt, 50).toFixed(2),
      run_result_p95_ms: +percentile(rt, 95).toFixed(2),
      run_result_p99_ms: +percentile(rt, 99).toFixed(2),
      samples: n,
      rss: rss.stop(),
    });
  });
}

/**
 * One instance with many steps: does step 1,950 cost what step 50 costs? The engine never
 * replays, so it should; `LongLoop` keeps its state constant (the steps report their start
 * times through a file), and `LongHistory` also accumulates every result in a growing array,
 * which makes each snapshot (and so each step) cost a little more: both are reported.
 */
async function longHistory(ctx: Context): Promise<Metrics> {
  const steps = ctx.sizes.longSteps;
  return withSupervisor(ctx, async (pid) => {
    const rss = rssSampler(pid);
    const dir = await mkdtemp(path.join(os.tmpdir(), "waymark-bench-long-"));
    const file = path.join(dir, "stamps.txt");
    try {
      // Warm up first, as the sequential scenario does: a fresh supervisor's first few hundred
      // steps run colder code, which would flatter the late steps against the early ones.
      await new LongLoop().run(Math.min(300, steps), path.join(dir, "warm-up.txt"));
      const t0 = performance.now();
      await new LongLoop().run(steps, file);
      const seconds = (performance.now() - t0) / 1000;
      const starts = (await readFile(file, "utf8"))
        .trim()
        .split("\n")
        .map((l) => Number(l.split(" ")[1]));
      const window = Math.max(1, Math.floor(steps / 20));
      const ratio = (xs: number[]) => {
        const gaps = xs.slice(1).map((s, i) => s - xs[i]!);
        return { early: median(gaps.slice(0, window)), late: median(gaps.slice(-window)) };
      };
      const loop = ratio(starts);
      const acc = ratio(await new LongHistory().run(steps));
      // The curve of a loop five times as long whose state grows by every result: the median
      // step of each tenth. Flat when a step costs what it changes, not what the state holds.
      const long = 5 * steps;
      const a0 = performance.now();
      const accStarts = await new LongHistory().run(long);
      const accSeconds = (performance.now() - a0) / 1000;
      const tenth = Math.max(1, Math.floor(long / 10));
      const gaps = accStarts.slice(1).map((s, i) => s - accStarts[i]!);
      const curve = Array.from({ length: 10 }, (_, k) => +median(gaps.slice(k * tenth, (k + 1) * tenth)).toFixed(3));
      return {
        scenario: "long-history",
        steps,
        first_window_ms: +loop.early.toFixed(3),
        last_window_ms: +loop.late.toFixed(3),
        late_over_early: +(loop.late / loop.early).toFixed(2),
        accumulating_late_over_early: +(acc.late / acc.early).toFixed(2),
        accumulating_long_steps: long,
        accumulating_long_seconds: +accSeconds.toFixed(2),
        accumulating_long_curve_ms: curve,
        seconds: +seconds.toFixed(2),
        rss: rss.stop(),
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

/** Many instances asleep or waiting for a message: what do they cost the supervisor once out of memory? */
async function sleepers(ctx: Context): Promise<Metrics> {
  const n = ctx.sizes.sleepers;
  return withSupervisor(
    ctx,
    async (pid) => {
      const rss = rssSampler(pid);
      const t0 = performance.now();
      // Half sleep an hour, half wait for a message that does not come.
      const waiting = Math.floor(n / 2);
      await Sleeper.startMany(Array.from({ length: n - waiting }, () => [3_600_000]));
      await Waiter.startMany(Array.from({ length: waiting }, () => []));
      for (;;) {
        const { rows } = await sql(ctx.url, "SELECT count(*)::int AS n FROM waymark.instances WHERE status = 'sleeping'");
        if (rows[0].n >= n) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const seconds = (performance.now() - t0) / 1000;
      // Let the supervisor settle, then read its memory with all of them asleep: what it keeps
      // per sleeping instance shows as the settled size's growth with their number (run it at
      // --size sleepers=100000 beside the default), the peak is what taking them in cost.
      await new Promise((r) => setTimeout(r, 3000));
      let settled = Infinity;
      for (let i = 0; i < 5; i++) {
        settled = Math.min(settled, rssKb(pid));
        await new Promise((r) => setTimeout(r, 200));
      }
      return {
        scenario: "sleepers",
        instances: n,
        instances_per_s: Math.round(n / seconds),
        seconds: +seconds.toFixed(2),
        supervisor_settled_mb: +(settled / 1024).toFixed(1),
        rss: rss.stop(),
      };
    },
    // A waiting instance stays in memory this long before it leaves (a message often comes soon).
    { WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "100" },
  );
}

/**
 * Flow control across three supervisors: calls of an action limited to 5 at once (20 ms each:
 * the limit allows 250/s), then of one limited to 200 starts a second. Reports the peak
 * concurrency the actions themselves saw (a ledger of starts and ends), the most starts in any
 * second (of the grants waymark counts, and of the starts the actions saw), and the throughput
 * next to what the limit allows.
 */
async function limited(ctx: Context): Promise<Metrics> {
  const { limitedCalls, ratedCalls } = ctx.sizes;
  await freshSchema(ctx.url);
  process.env.WAYMARK_DATABASE_URL = ctx.url;
  const dir = await mkdtemp(path.join(os.tmpdir(), "waymark-bench-limited-"));
  const ledgerFile = path.join(dir, "ledger.txt");
  const sups = [];
  try {
    for (let i = 0; i < 3; i++) sups.push(await startSupervisor({ url: ctx.url, env: { ...ctx.env, BENCH_LEDGER: ledgerFile } }));
    // Ten instances share the calls, so the three supervisors each claim some.
    const per = Math.max(1, Math.ceil(limitedCalls / 10));
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => new Limited().run(per)));
    const concSeconds = (performance.now() - t0) / 1000;
    const perRated = Math.max(1, Math.ceil(ratedCalls / 10));
    const t1 = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => new Rated().run(perRated)));
    const rateSeconds = (performance.now() - t1) / 1000;
    const lines = (await readFile(ledgerFile, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ") as [string, string]);
    let running = 0;
    let peak = 0;
    const events = lines.filter(([k]) => k !== "rate").map(([k, at]) => ({ k, at: Number(at) }));
    for (const e of events.sort((a, b) => a.at - b.at || (a.k === "end" ? -1 : 1))) {
      running += e.k === "start" ? 1 : -1;
      peak = Math.max(peak, running);
    }
    const window = (times: number[]) => {
      const t = [...times].sort((a, b) => a - b);
      let most = 0;
      for (let i = 0, j = 0; i < t.length; i++) {
        while (t[i]! - t[j]! >= 1000) j++;
        most = Math.max(most, i - j + 1);
      }
      return most;
    };
    const c = new pg.Client({ connectionString: ctx.url });
    await c.connect();
    const grants = (await c.query<{ at: Date }>("SELECT started_at AS at FROM waymark.action_starts WHERE action_name = 'ratedWork'")).rows.map((r) =>
      r.at.getTime(),
    );
    await c.end();
    const calls = per * 10;
    const rated = perRated * 10;
    return {
      scenario: "limited",
      seconds: +(concSeconds + rateSeconds).toFixed(2),
      concurrency_limit: 5,
      concurrency_peak: peak,
      concurrency_actions_per_s: Math.round(calls / concSeconds),
      concurrency_allows_per_s: 250,
      rate_limit_per_s: 200,
      rate_peak_grants_per_s: window(grants),
      rate_peak_starts_per_s: window(lines.filter(([k]) => k === "rate").map(([, at]) => Number(at))),
      rate_actions_per_s: Math.round(rated / rateSeconds),
      supervisors: 3,
    };
  } finally {
    await closeClient();
    for (const s of sups) await s.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One producer queueing: the bench process calls `startMany` once with every instance (the SDK
 * sends them a thousand per statement), with no supervisor draining them. Instances queued per
 * second, and the CPU it took (the producer is "bench").
 */
async function enqueue(ctx: Context): Promise<Metrics> {
  const n = ctx.sizes.enqueueInstances;
  await freshSchema(ctx.url);
  process.env.WAYMARK_DATABASE_URL = ctx.url;
  try {
    // The version registered and the connections open, as in an app that has queued before.
    await Tiny.startMany([[0]]);
    const args = Array.from({ length: n }, (_, i) => [i] as [number]);
    await sql(ctx.url, "CHECKPOINT");
    const cpu = cpuSampler(-1);
    const t0 = performance.now();
    await Tiny.startMany(args);
    const seconds = (performance.now() - t0) / 1000;
    return { scenario: "enqueue", instances_per_s: Math.round(n / seconds), seconds: +seconds.toFixed(2), instances: n, cpu: cpu.stop() };
  } finally {
    await closeClient();
  }
}

export const SCENARIOS: Record<string, (ctx: Context) => Promise<Metrics>> = {
  "fan-out": fanOut,
  tiny,
  sequential,
  latency,
  "long-history": longHistory,
  sleepers,
  limited,
  enqueue,
};
