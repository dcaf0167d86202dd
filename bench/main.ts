/**
 * The bench: `npm run bench` or `waymark bench [scenario ...] [--runs 3] [--smoke] [--json]
 * [--no-peers]`. Every scenario runs against a real `waymark supervise` process on a fresh
 * schema, the peers on the same database in the same run, and the report gives medians over
 * runs and the ratio to each peer. A scenario whose target is a ratio to graphile-worker batched
 * (fan-out, tiny) has each of its runs followed at once by one of graphile-worker's, and its
 * ratio is the median of those pairs: on a shared machine the load drifts over the minutes
 * between a scenario and the peers' own runs, and one side of a ratio would take the drift alone.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { benchDatabase, clearAfterRun, median } from "./harness.js";
import { ceiling, graphile, peersAvailable, pgBoss, type PeerPackage } from "./peers.js";
import { FULL, SCENARIOS, SMOKE, type Metrics, type Sizes } from "./scenarios.js";

export interface BenchOptions {
  scenarios: string[];
  runs: number;
  smoke: boolean;
  json: boolean;
  peers: boolean;
  databaseUrl?: string;
  sizes?: Partial<Sizes>;
}

/** The median of each numeric field over runs (objects such as rss: field by field). */
function medianOf(runs: Metrics[]): Metrics {
  const out: Record<string, unknown> = { ...runs[0] };
  for (const key of Object.keys(runs[0]!)) {
    const values = runs.map((r) => r[key]);
    if (values.every((v) => typeof v === "number")) out[key] = +median(values as number[]).toFixed(3);
    else if (values.every((v) => v && typeof v === "object" && !Array.isArray(v))) out[key] = medianOf(values as Metrics[]);
  }
  out.runs = runs.length;
  return out as Metrics;
}

/** The scenarios measured in pairs with graphile-worker batched, and the number each is compared by. */
const PAIRED: Record<string, "actions_per_s" | "instances_per_s"> = { "fan-out": "actions_per_s", tiny: "instances_per_s" };

/** What a scenario's runs paired with graphile-worker batched's measured. */
interface Paired {
  /** The median of the pairs' ratios (waymark's number over graphile-worker's jobs/s). */
  ratio: number;
  ratios: number[];
  /** graphile-worker batched's median over the paired runs. */
  jobs_per_s: number;
}

function paired(m: Metrics | undefined): Paired | undefined {
  return m?.paired_graphile_batched as Paired | undefined;
}

/** A scenario's ratio to graphile-worker batched: its pairs' median, else `v` over the peer's own runs (`gb`). */
function vsBatched(m: Metrics | undefined, v: number | undefined, gb: number | undefined): number | undefined {
  return paired(m)?.ratio ?? (v && gb ? v / gb : undefined);
}

function fmt(n: unknown): string {
  // A median of an even number of runs can end in .5: rates are shown whole.
  return typeof n === "number" ? (Number.isInteger(n) || Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : String(n)) : "";
}

export async function bench(o: BenchOptions): Promise<Metrics[]> {
  const sizes: Sizes = { ...(o.smoke ? SMOKE : FULL), ...o.sizes };
  const names = o.scenarios.length ? o.scenarios : Object.keys(SCENARIOS);
  for (const n of names) if (!SCENARIOS[n]) throw new Error(`unknown scenario ${n}: choose from ${Object.keys(SCENARIOS).join(", ")}`);
  const db = await benchDatabase(o.databaseUrl);
  const results: Metrics[] = [];
  const say = (line: string) => {
    if (!o.json) process.stdout.write(line + "\n");
  };
  try {
    say(`waymark bench on ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; medians of ${o.runs} run(s)`);
    const env: Record<string, string> = process.env.WAYMARK_WORKER_COUNT ? {} : { WAYMARK_WORKER_COUNT: String(Math.max(2, os.availableParallelism())) };
    const jobs = o.smoke ? 200 : 20_000;
    // graphile-worker and pg-boss are devDependencies: a bench run from an installed waymark
    // compares with those that are there (and says which it skipped: on stderr with --json).
    const { available, skipped } = o.peers ? await peersAvailable() : { available: new Set<PeerPackage>(), skipped: [] };
    // Each peer runs once, unmeasured, in this process before its first timed run (at the size of
    // waymark's warm-up, which runs in its supervisor): no ratio hinges on which side ran cold code.
    const warmed = new Set<string>();
    const warm = async (name: string, run: () => Promise<Metrics>) => {
      if (warmed.has(name)) return;
      warmed.add(name);
      await run();
      await clearAfterRun(db.url);
    };
    for (const name of names) {
      const runs: Metrics[] = [];
      const ratios: number[] = [];
      const peer: number[] = [];
      for (let i = 0; i < o.runs; i++) {
        const run = await SCENARIOS[name]!({ url: db.url, sizes, env });
        await clearAfterRun(db.url);
        runs.push(run);
        const key = PAIRED[name];
        if (!key || !available.has("graphile-worker")) continue;
        await warm("graphile-worker batched", () => graphile(db.url, sizes.warmupInstances, true));
        const g = (await graphile(db.url, jobs, true)).jobs_per_s as number;
        await clearAfterRun(db.url);
        peer.push(g);
        ratios.push(run[key]! / g);
      }
      const m = medianOf(runs);
      if (ratios.length)
        m.paired_graphile_batched = {
          ratio: +median(ratios).toFixed(2),
          ratios: ratios.map((r) => +r.toFixed(2)),
          jobs_per_s: Math.round(median(peer)),
        } satisfies Paired;
      results.push(m);
      if (o.json) process.stdout.write(JSON.stringify(m) + "\n");
      else {
        say(`  ${name}: ${describe(m)}`);
        const p = paired(m);
        if (p)
          say(
            `    paired with graphile-worker batched (a run of it right after each): ${p.ratio}x (${p.ratios.map((r) => `${r}x`).join(", ")}; it ran ${fmt(p.jobs_per_s)} jobs/s)`,
          );
      }
    }
    if (o.peers) {
      for (const line of skipped) process[o.json ? "stderr" : "stdout"].write(`  ${line}\n`);
      const peers: Array<[string, PeerPackage | undefined, (jobs: number) => Promise<Metrics>, number]> = [
        ["graphile-worker unbatched", "graphile-worker", (n) => graphile(db.url, n, false), jobs],
        ["graphile-worker batched", "graphile-worker", (n) => graphile(db.url, n, true), jobs],
        ["pg-boss", "pg-boss", (n) => pgBoss(db.url, n), jobs],
        ["raw ceiling", undefined, (n) => ceiling(db.url, n), o.smoke ? 2000 : 100_000],
      ];
      for (const [name, pkg, run, n] of peers) {
        if (pkg && !available.has(pkg)) continue;
        await warm(name, () => run(sizes.warmupInstances));
        const runs: Metrics[] = [];
        for (let i = 0; i < o.runs; i++) {
          runs.push(await run(n));
          await clearAfterRun(db.url);
        }
        const m = medianOf(runs);
        results.push(m);
        if (o.json) process.stdout.write(JSON.stringify(m) + "\n");
        else say(`  ${name}: ${fmt(m.jobs_per_s)} jobs/s`);
      }
      const ratios = ratiosOf(results);
      if (o.json) process.stdout.write(JSON.stringify({ scenario: "ratios", ...ratios }) + "\n");
      else for (const [k, v] of Object.entries(ratios)) say(`  ${k}: ${v}`);
    }
    if (!o.json) say("\n" + table(results, o.smoke));
  } finally {
    await db.stop();
  }
  return results;
}

function describe(m: Metrics): string {
  const parts: string[] = [];
  if (m.actions_per_s !== undefined) parts.push(`${fmt(m.actions_per_s)} actions/s`);
  if (m.instances_per_s !== undefined) parts.push(`${fmt(m.instances_per_s)} instances/s`);
  if (m.p50_ms !== undefined) parts.push(`p50 ${m.p50_ms} ms, p95 ${m.p95_ms} ms, p99 ${m.p99_ms} ms`);
  if (m.run_result_p50_ms !== undefined) parts.push(`run()->result p50 ${String(m.run_result_p50_ms)} ms`);
  if (m.concurrent_actions_per_s !== undefined) parts.push(`${fmt(m.concurrent_actions_per_s)} actions/s with 200 at once`);
  if (m.late_over_early !== undefined)
    parts.push(
      `steps at the end cost ${String(m.late_over_early)}x steps at the start (${String(m.first_window_ms)} -> ${String(m.last_window_ms)} ms); ${String(m.accumulating_late_over_early)}x when the state accumulates every result`,
    );
  if (m.concurrency_peak !== undefined)
    parts.push(
      `concurrency ${String(m.concurrency_peak)} at most (limit ${String(m.concurrency_limit)}), ${fmt(m.concurrency_actions_per_s as number)} actions/s (the limit allows ${String(m.concurrency_allows_per_s)}); ` +
        `rate ${String(m.rate_peak_grants_per_s)} starts granted and ${String(m.rate_peak_starts_per_s)} begun in the busiest second (limit ${String(m.rate_limit_per_s)}/s), ${fmt(m.rate_actions_per_s as number)} actions/s, across ${String(m.supervisors)} supervisors`,
    );
  if (m.rss) parts.push(`supervisor RSS ${m.rss.supervisorMaxMb} MB, children ${m.rss.childrenMaxMb} MB`);
  if (m.cpu) parts.push(`CPU: supervisor ${m.cpu.supervisor}%, children ${m.cpu.children}%, postgres ${m.cpu.postgres}%, app ${m.cpu.bench}%`);
  return parts.join("; ");
}

function ratiosOf(results: Metrics[]): Record<string, number> {
  const by = (s: string) => results.find((r) => r.scenario === s);
  const out: Record<string, number> = {};
  const fan = by("fan-out")?.actions_per_s;
  const tinyRate = by("tiny")?.instances_per_s;
  const gb = by("graphile-worker batched")?.jobs_per_s as number | undefined;
  const gu = by("graphile-worker unbatched")?.jobs_per_s as number | undefined;
  const boss = by("pg-boss")?.jobs_per_s as number | undefined;
  const ceil = results.find((r) => r.scenario.startsWith("raw ceiling"))?.jobs_per_s as number | undefined;
  const fanBatched = vsBatched(by("fan-out"), fan, gb);
  const tinyBatched = vsBatched(by("tiny"), tinyRate, gb);
  if (fan && gu) out["fan-out / graphile-worker unbatched"] = +(fan / gu).toFixed(2);
  if (fanBatched !== undefined) out["fan-out / graphile-worker batched"] = +fanBatched.toFixed(2);
  if (fan && boss) out["fan-out / pg-boss"] = +(fan / boss).toFixed(2);
  if (fan && ceil) out["fan-out / raw ceiling"] = +(fan / ceil).toFixed(2);
  if (tinyRate && gu) out["tiny / graphile-worker unbatched"] = +(tinyRate / gu).toFixed(2);
  if (tinyBatched !== undefined) out["tiny / graphile-worker batched"] = +tinyBatched.toFixed(2);
  if (tinyRate && boss) out["tiny / pg-boss"] = +(tinyRate / boss).toFixed(2);
  if (tinyRate && ceil) out["tiny / raw ceiling"] = +(tinyRate / ceil).toFixed(2);
  return out;
}

/** The summary: one row per scenario, its headline number, its ratio to each peer of this run, and its target. */
function table(results: Metrics[], smoke: boolean): string {
  const by = (s: string) => results.find((r) => r.scenario === s || r.scenario.startsWith(s));
  const peers = ["graphile-worker unbatched", "graphile-worker batched", "pg-boss", "raw ceiling"].filter((p) => by(p));
  const gb = by("graphile-worker batched")?.jobs_per_s as number | undefined;
  // Against graphile-worker batched, a paired scenario shows its pairs' ratio.
  const ratio = (v: number | undefined, p: string, m?: Metrics) => {
    const r = p === "graphile-worker batched" ? vsBatched(m, v, gb) : v && by(p)?.jobs_per_s ? v / (by(p)!.jobs_per_s as number) : undefined;
    return r === undefined ? "" : `${r.toFixed(2)}x`;
  };
  // The targets are for the full sizes: a smoke run only shows the harness works.
  const verdict = (ok: boolean | undefined) => (ok === undefined || smoke ? "" : ok ? "met" : "MISSED");
  const rows: string[][] = [];
  for (const m of results) {
    if (peers.some((p) => m.scenario.startsWith(p))) continue;
    const rss = m.rss?.supervisorMaxMb;
    switch (m.scenario) {
      case "fan-out": {
        const vs = vsBatched(m, m.actions_per_s, gb);
        rows.push([
          "fan-out",
          `${fmt(m.actions_per_s!)} actions/s, RSS ${rss} MB`,
          ...peers.map((p) => ratio(m.actions_per_s, p, m)),
          ">= 2x graphile batched; RSS <= 150 MB",
          verdict(vs !== undefined ? vs >= 2 && rss! <= 150 : rss! <= 150),
        ]);
        break;
      }
      case "tiny": {
        const vs = vsBatched(m, m.instances_per_s, gb);
        rows.push([
          "tiny",
          `${fmt(m.instances_per_s!)} instances/s`,
          ...peers.map((p) => ratio(m.instances_per_s, p, m)),
          ">= graphile batched",
          verdict(vs !== undefined ? vs >= 1 : undefined),
        ]);
        break;
      }
      case "enqueue":
        rows.push(["enqueue", `${fmt(m.instances_per_s!)} instances/s queued`, ...peers.map(() => ""), ">= 30,000/s", verdict(m.instances_per_s! >= 30_000)]);
        break;
      case "sequential":
        rows.push(["sequential", `p50 ${m.p50_ms} ms per step`, ...peers.map(() => ""), "p50 <= 3 ms", verdict(m.p50_ms! <= 3)]);
        break;
      case "latency":
        rows.push([
          "latency",
          `start -> first action p50 ${m.p50_ms} ms, run() -> result p50 ${String(m.run_result_p50_ms)} ms`,
          ...peers.map(() => ""),
          "run() -> result p50 <= 4 ms",
          verdict((m.run_result_p50_ms as number) <= 4),
        ]);
        break;
      case "long-history":
        rows.push([
          "long-history",
          `late/early ${String(m.late_over_early)}x, accumulating ${String(m.accumulating_late_over_early)}x`,
          ...peers.map(() => ""),
          "<= 1.2x; accumulating <= 1.3x",
          verdict((m.late_over_early as number) <= 1.2 && (m.accumulating_late_over_early as number) <= 1.3),
        ]);
        break;
      case "sleepers":
        rows.push(["sleepers", `RSS ${rss} MB`, ...peers.map(() => ""), "RSS <= 200 MB", verdict(rss! <= 200)]);
        break;
      default:
        rows.push([m.scenario, describe(m), ...peers.map(() => ""), "", ""]);
    }
  }
  const head = ["scenario", "waymark", ...peers.map((p) => `vs ${p}`), "target", ""];
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    "  " +
    r
      .map((c, i) => (c ?? "").padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const out = [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
  const pairedNames = results.filter((m) => paired(m)).map((m) => m.scenario);
  if (pairedNames.length)
    out.push(`  (${pairedNames.join(" and ")} against graphile-worker batched: the median ratio of runs paired with one of its runs each)`);
  return out.join("\n");
}

const BENCH_OPTIONS = {
  runs: { type: "string", default: "3" },
  smoke: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  "no-peers": { type: "boolean", default: false },
  "database-url": { type: "string" },
  size: { type: "string", multiple: true },
} as const;

export const USAGE = `usage: npm run bench -- [scenario ...] [--runs n] [--smoke] [--json] [--no-peers] [--size name=n ...] [--database-url url]
  scenarios: ${Object.keys(SCENARIOS).join(", ")} (default: all)
  --runs n          runs per scenario; the report gives medians (default 3); with the peers, each
                    run of fan-out and tiny is followed by one of graphile-worker batched, and
                    their ratio to it is the median of those pairs
  --smoke           every scenario at a tiny size (what CI runs)
  --json            one JSON line per scenario instead of the table
  --no-peers        skip graphile-worker, pg-boss and the raw SKIP LOCKED ceiling
                    (graphile-worker and pg-boss are devDependencies: when absent, as in an
                    installed waymark, their runs are skipped, with a line saying how to add them)
  --size name=n     override a size: ${Object.keys(FULL).join(", ")}
  --database-url    a database the bench may reset (default: WAYMARK_DATABASE_URL, else an embedded server of its own)`;

export function parseBenchArgs(argv: string[]): BenchOptions {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof BENCH_OPTIONS }>>;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: BENCH_OPTIONS });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (!Number.isInteger(Number(values.runs)) || Number(values.runs) < 1) throw new Error(`--runs takes a whole number of at least 1, not ${values.runs}`);
  const sizes: Partial<Sizes> = {};
  for (const s of values.size ?? []) {
    const [k, v] = s.split("=");
    if (!k || !v || !(k in FULL) || !(Number(v) > 0)) throw new Error(`--size takes name=number with name one of ${Object.keys(FULL).join(", ")}, not ${s}`);
    (sizes as Record<string, number>)[k] = Number(v);
  }
  return {
    scenarios: positionals,
    runs: Number(values.runs),
    smoke: values.smoke!,
    json: values.json!,
    peers: !values["no-peers"],
    databaseUrl: values["database-url"] ?? process.env.WAYMARK_DATABASE_URL,
    sizes,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE + "\n");
    process.exit(0);
  }
  Promise.resolve()
    .then(() => bench(parseBenchArgs(argv)))
    .then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
}
