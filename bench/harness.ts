import { createWriteStream, readFileSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import pg from "pg";
import { migrate } from "../store/migrate.js";
import { privateServer } from "./server.js";

/**
 * The bench's moving parts: a database (WAYMARK_DATABASE_URL, or an embedded server of its own,
 * fsync on), a fresh schema per run, a real `waymark supervise` process, and RSS sampling of the
 * supervisor and its children from /proc.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = path.join(ROOT, "dist", "cli", "main.js");
const WORKFLOWS = fileURLToPath(new URL("./workflows.js", import.meta.url));

export interface Database {
  url: string;
  stop(): Promise<void>;
}

export async function benchDatabase(url: string | undefined): Promise<Database> {
  if (url) return { url, stop: async () => undefined };
  const server = await privateServer({ prefix: "waymark-bench-" });
  return { url: server.url, stop: () => server.remove() };
}

export async function sql(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text, params);
  } finally {
    await c.end();
  }
}

/** A clean waymark schema, vacuumed and checkpointed so runs start alike. */
export async function freshSchema(url: string): Promise<void> {
  await sql(url, "DROP SCHEMA IF EXISTS waymark CASCADE");
  await migrate({ connectionString: url });
  await sql(url, "CHECKPOINT");
}

/**
 * Clears what a measured run left for Postgres to clean, before the next run starts: waymark's
 * schema (every scenario starts from a fresh one anyway), pg-boss's (its run makes its own), and
 * the dead rows of graphile-worker's jobs table. Left behind, they are vacuumed by autovacuum on
 * its own clock, during whichever run comes next: a graphile-worker run right after a waymark
 * scenario then paid for waymark's 20,000 finished instances, and the peers' runs at the end of
 * the bench for the 100,000 instances the enqueue scenario leaves queued.
 */
export async function clearAfterRun(url: string): Promise<void> {
  await sql(url, "DROP SCHEMA IF EXISTS waymark CASCADE");
  await sql(url, "DROP SCHEMA IF EXISTS pgboss CASCADE");
  if ((await sql(url, "SELECT to_regclass('graphile_worker._private_jobs') IS NOT NULL AS has")).rows[0].has)
    await sql(url, "VACUUM graphile_worker._private_jobs");
  await sql(url, "CHECKPOINT");
}

/** A process's resident memory in KiB (0 once it is gone). */
export function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The pids of the direct children of `pid` (none once it is gone). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (list) out.push(...list.split(/\s+/).map(Number));
    }
  } catch {
    // the process is gone
  }
  return out;
}

export interface RssStats {
  supervisorMaxMb: number;
  childrenMaxMb: number;
}

/** Samples the RSS of a process and its children every `everyMs`. */
export function rssSampler(pid: number, everyMs = 200): { stop(): RssStats } {
  let sup = 0;
  let kids = 0;
  const sample = () => {
    sup = Math.max(sup, rssKb(pid));
    kids = Math.max(
      kids,
      childPids(pid).reduce((n, c) => n + rssKb(c), 0),
    );
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { supervisorMaxMb: +(sup / 1024).toFixed(1), childrenMaxMb: +(kids / 1024).toFixed(1) };
    },
  };
}

function procTimes(): Map<number, { comm: string; ppid: number; ticks: number }> {
  const out = new Map<number, { comm: string; ppid: number; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const f = stat.slice(close + 2).split(" ");
      out.set(Number(entry), { comm, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone
    }
  }
  return out;
}

export interface CpuShares {
  supervisor: number;
  children: number;
  postgres: number;
  bench: number;
  other: number;
}

/**
 * Where the machine's CPU went during a scenario, in percent of all cores: the supervisor, its
 * children, Postgres, this bench process (the app side), everything else.
 */
export function cpuSampler(supervisorPid: number): { stop(): CpuShares } {
  const before = procTimes();
  const t0 = performance.now();
  return {
    stop() {
      const after = procTimes();
      const seconds = (performance.now() - t0) / 1000;
      const hz = 100;
      const capacity = seconds * hz * os.availableParallelism();
      const shares: CpuShares = { supervisor: 0, children: 0, postgres: 0, bench: 0, other: 0 };
      for (const [pid, a] of after) {
        const d = a.ticks - (before.get(pid)?.ticks ?? 0);
        if (d <= 0) continue;
        const key: keyof CpuShares =
          pid === supervisorPid
            ? "supervisor"
            : a.ppid === supervisorPid
              ? "children"
              : a.comm.startsWith("postgres")
                ? "postgres"
                : pid === process.pid
                  ? "bench"
                  : "other";
        shares[key] += d;
      }
      for (const k of Object.keys(shares) as Array<keyof CpuShares>) shares[k] = Math.round((shares[k] / capacity) * 100);
      return shares;
    },
  };
}

export interface Supervised {
  pid: number;
  /** SIGTERM, then wait for the exit; resolves with the exit code. */
  stop(): Promise<number | undefined>;
  /** kill -9, then wait for the exit. */
  kill(): Promise<void>;
  output(): string;
}

/**
 * Starts `waymark supervise` (the bench workflows, unless `modules` says otherwise) and waits
 * until it runs; with `logFile`, its output is also appended there. `stop()` SIGKILLs it if it
 * has not exited 5 s after the SIGTERM, unless `forceKillAfterDelay` is false.
 */
export async function startSupervisor(params: {
  url: string;
  env?: Record<string, string>;
  modules?: string[];
  logFile?: string;
  forceKillAfterDelay?: false;
}): Promise<Supervised> {
  // WAYMARK_* settings of the bench's own environment tune the supervisor under test (e.g.
  // WAYMARK_EXECUTOR_SHARDS=1 npm run bench); its database and modules are the bench's.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "WAYMARK_DATABASE_URL" && k !== "WAYMARK_USER_MODULE"));
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the supervisor (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const modules = (params.modules ?? [WORKFLOWS]).join(",");
  const proc: ResultPromise = execa(process.execPath, [...prof, CLI, "supervise"], {
    env: { ...inherited, WAYMARK_DATABASE_URL: params.url, WAYMARK_USER_MODULE: modules, WAYMARK_LOG_LEVEL: "info", ...params.env },
    extendEnv: false,
    reject: false,
    stdout: "pipe",
    stderr: "pipe",
    cleanup: true,
    forceKillAfterDelay: params.forceKillAfterDelay ?? 5000,
  });
  let out = "";
  const log = params.logFile ? createWriteStream(params.logFile, { flags: "a" }) : undefined;
  const exited = proc.then((r) => {
    log?.end();
    return r;
  });
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      log?.write(d);
      if (out.includes("waymark supervise is running")) resolve();
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    void exited.then(() => reject(new Error(`waymark supervise exited:\n${out}`)));
  });
  return {
    pid: proc.pid!,
    output: () => out,
    async stop() {
      proc.kill("SIGTERM");
      return (await exited).exitCode;
    },
    async kill() {
      proc.kill("SIGKILL");
      await exited;
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
