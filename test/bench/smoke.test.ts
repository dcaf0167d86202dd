import test from "ava";
import { execa } from "execa";
import { fileURLToPath } from "node:url";
import { useTestDatabase } from "../helpers/db.js";

const BENCH = fileURLToPath(new URL("../../dist/bench/main.js", import.meta.url));
// Each run resets the schema of the database it is given: the two run one after the other.
const dbUrl = useTestDatabase(test);

test.serial("the bench runs every scenario and every peer at a tiny size (so the harness cannot rot)", async (t) => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const r = await execa(process.execPath, [BENCH, "--smoke", "--runs", "1", "--json", "--database-url", await dbUrl()], {
    env,
    extendEnv: false,
    reject: false,
    timeout: 240_000,
  });
  t.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const scenarios = lines.map((l) => l.scenario);
  t.deepEqual(scenarios, [
    "fan-out",
    "tiny",
    "sequential",
    "latency",
    "long-history",
    "sleepers",
    "limited",
    "enqueue",
    "graphile-worker unbatched",
    "graphile-worker batched",
    "pg-boss",
    "raw ceiling B=100",
    "ratios",
  ]);
  const by = (s: string) => lines.find((l) => l.scenario === s)!;
  t.true((by("fan-out").actions_per_s as number) > 0);
  t.true((by("tiny").instances_per_s as number) > 0);
  t.true((by("sequential").p50_ms as number) > 0);
  t.true((by("latency").run_result_p50_ms as number) > 0);
  t.true((by("long-history").late_over_early as number) > 0);
  t.is((by("long-history").accumulating_long_curve_ms as number[]).length, 10);
  t.true((by("enqueue").instances_per_s as number) > 0);
  t.true((by("sleepers").rss as { supervisorMaxMb: number }).supervisorMaxMb > 0);
  // Flow control: the limits hold even at the smoke size.
  t.true((by("limited").concurrency_peak as number) <= 5);
  t.true((by("limited").rate_peak_grants_per_s as number) <= 200);
  t.true((by("graphile-worker batched").jobs_per_s as number) > 0);
  t.true("fan-out / graphile-worker batched" in by("ratios"));
  // fan-out and tiny run in pairs with graphile-worker batched: their ratio is the pairs' median.
  for (const s of ["fan-out", "tiny"]) {
    const pair = by(s).paired_graphile_batched as { ratio: number; ratios: number[]; jobs_per_s: number };
    t.is(pair.ratios.length, 1, s);
    t.true(pair.jobs_per_s > 0, s);
    t.is(by("ratios")[`${s} / graphile-worker batched`], pair.ratio, s);
  }
});

test.serial("waymark bench passes scenarios, --size and the other flags through", async (t) => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
  const r = await execa(
    process.execPath,
    [CLI, "bench", "fan-out", "--smoke", "--runs", "1", "--json", "--no-peers", "--size", "fanoutActions=60", "--database-url", await dbUrl()],
    {
      env,
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    },
  );
  t.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(
    lines.map((l) => l.scenario),
    ["fan-out"],
  );
  // 60 actions at the smoke width of 20: 3 instances.
  t.is(lines[0]!.instances, 3);
  t.is(lines[0]!.width, 20);
});
