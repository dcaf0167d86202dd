/**
 * The chaos soak: `npm run chaos -- [--seed n] [--instances n] [--duration s] ...`.
 *
 * Its own PostgreSQL, several `waymark supervise` processes on the soak's workflow
 * (bench/chaos-workflows.ts), a few hundred instances started over the run, and faults injected
 * on a seeded schedule: kill -9 of action children and of supervisors (each replaced at once),
 * a PostgreSQL crash (immediate mode) and restart, pg_terminate_backend of every waymark
 * connection. Then a verdict: every instance completed once with the right result, no process
 * left behind, every fault recovered from within the lease TTL plus a margin. Exit code 0 only
 * when every check passes. The plan (instances and fault times) replays with the same --seed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { close } from "../sdk/index.js";
import { chaosDatabase, Fleet, orphansAfter, query } from "./chaos-cluster.js";
import { inject, type FaultRecord } from "./chaos-faults.js";
import { parseChaosArgs, plan, USAGE, type ChaosOptions, type Plan } from "./chaos-plan.js";
import { judge, report } from "./chaos-verdict.js";
import { EVICT_THRESHOLD_MS } from "./chaos-workflows.js";

const TTL_MS = 3000;
const HEARTBEAT_MS = 1000;
/**
 * Recovery is held to the TTL plus this. What a dead supervisor's instance waits for beyond the
 * TTL: the reclaimer's sweep (0.5 s here) and a claim (a NOTIFY, or the 0.1 s poll); then its next
 * step, which in this workload can be an action of up to 0.9 s or the rest of a 0.5 s in-memory
 * sleep. After a Postgres crash, a write that failed during the outage is retried with a doubling
 * backoff (0.2, 0.4, 0.8, 1.6, 3.2 s...), so the first write after the server is back can come a
 * few seconds later. The rest is noise: this soak runs on 2 shared cores, where stalls of 1-2 s are
 * common (see NOTES: a crash restart under load took 1.2-2.4 s, up to 11 s with its fsync).
 */
const MARGIN_MS = 7000;

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
const say = (line: string) => process.stdout.write(line + "\n");

/** Starts every planned instance at its time; a start that fails is tried again with the same idempotency key. */
async function startAll(p: Plan, t0: number): Promise<string[]> {
  const { ChaosWorkflow } = await import("./chaos-workflows.js");
  const errors: string[] = [];
  for (const inst of p.instances) {
    await sleepUntil(t0 + inst.atMs);
    const deadline = Date.now() + 60_000;
    for (let delay = 200; ; delay = Math.min(delay * 2, 3000)) {
      try {
        await new ChaosWorkflow().start([inst.args], { idempotencyKey: inst.args.key });
        break;
      } catch (e) {
        if (Date.now() > deadline) {
          errors.push(`${inst.args.key}: ${(e as Error).message}`);
          break;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
  return errors;
}

/** Waits (bounded: the database is polled) until every instance has finished; returns whether they did. */
async function settle(url: string, n: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const [row] = await query(
      url,
      "SELECT count(*) FILTER (WHERE status IN ('completed', 'failed', 'cancelled'))::int AS done, count(*)::int AS total FROM waymark.instances",
    );
    if (row!.done >= n) return true;
    const line = `  waiting: ${row!.done}/${n} finished`;
    if (line !== last) say((last = line));
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function soak(o: ChaosOptions): Promise<boolean> {
  const p = plan(o);
  const runId = `${o.seed}-${process.pid}-${Date.now()}`;
  const runDir = await mkdtemp(path.join(os.tmpdir(), `waymark-chaos-${o.seed}-`));
  say(
    `chaos soak: seed ${o.seed} (replay the plan with --seed ${o.seed}); ${o.instances} instances over ${o.durationS} s, ${o.supervisors} supervisors; ` +
      `faults ${p.faults.map((f) => `${f.kind}@${(f.atMs / 1000).toFixed(0)}s`).join(", ")}`,
  );
  say(`  logs: ${runDir}`);
  const server = await chaosDatabase();
  say(`  database: ${server.dir}`);
  process.env.WAYMARK_DATABASE_URL = server.url;
  const fleet = new Fleet({
    url: server.url,
    logDir: runDir,
    env: {
      WAYMARK_LOCK_TTL_MS: String(TTL_MS),
      WAYMARK_LOCK_HEARTBEAT_MS: String(HEARTBEAT_MS),
      WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "500",
      WAYMARK_EVICT_SLEEP_THRESHOLD_MS: String(EVICT_THRESHOLD_MS),
      WAYMARK_RUNNER_PROFILE_INTERVAL_MS: "500",
      WAYMARK_WORKER_COUNT: "2",
      WAYMARK_SHUTDOWN_GRACE_MS: "10000",
      CHAOS_DIR: runDir,
      CHAOS_RUN: runId,
    },
  });
  const stopEverything = async () => {
    await Promise.all([...fleet.live.values()].map((s) => s.kill()));
    await server.stop();
  };
  process.once("SIGINT", () => void stopEverything().finally(() => process.exit(130)));
  let pass = false;
  try {
    await Promise.all(Array.from({ length: o.supervisors }, () => fleet.add()));
    const t0 = Date.now();
    const faults: FaultRecord[] = [];
    const injecting = (async () => {
      for (const f of p.faults) {
        await sleepUntil(t0 + f.atMs);
        const r = await inject({ server, fleet, t0 }, f);
        faults.push(r);
        say(`  ${(r.atMs / 1000).toFixed(1)} s: ${r.kind}: ${r.error ? `NOT INJECTED: ${r.error}` : r.detail}`);
      }
    })();
    const [startErrors] = await Promise.all([startAll(p, t0), injecting]);
    const windowEnd = Date.now();
    const settled = await settle(server.url, p.instances.length, 120_000);
    const settleMs = Date.now() - windowEnd;
    const stops = await fleet.stopAll(30_000);
    await close();
    const orphans = await orphansAfter(runId, 10_000);
    for (const left of orphans) process.kill(left.pid, "SIGKILL");
    const verdict = await judge({
      options: o,
      plan: p,
      faults,
      url: server.url,
      runDir,
      ttlMs: TTL_MS,
      heartbeatMs: HEARTBEAT_MS,
      limitMs: TTL_MS + MARGIN_MS,
      startErrors,
      settled,
      settleMs,
      supervisorsStarted: fleet.started.length,
      stops,
      orphans,
    });
    say("\n" + report(verdict));
    say(JSON.stringify(verdict.summary));
    pass = verdict.pass;
    return pass;
  } finally {
    await stopEverything();
    if (pass && !o.keep) {
      await rm(runDir, { recursive: true, force: true });
      await rm(server.dir, { recursive: true, force: true });
    } else say(`kept for inspection: logs ${runDir}, database ${server.dir} (start it again with the embedded server in that directory)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    say(USAGE);
    process.exit(0);
  }
  Promise.resolve()
    .then(() => soak(parseChaosArgs(argv)))
    .then(
      (pass) => process.exit(pass ? 0 : 1),
      (e: unknown) => {
        process.stderr.write(`chaos soak failed to run: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exit(2);
      },
    );
}
