import test from "ava";
import { parseChaosArgs, plan, type ChaosOptions } from "../../bench/chaos-plan.js";

// The soak itself (npm run chaos) is not run here: see BENCHMARKS.md, "Chaos soak".

const options = (over: Partial<ChaosOptions> = {}): ChaosOptions => ({ ...parseChaosArgs([]), seed: 42, ...over });

test("the same seed gives the same plan; another seed another one", (t) => {
  t.deepEqual(plan(options()), plan(options()));
  t.notDeepEqual(plan(options()).faults, plan(options({ seed: 43 })).faults);
  t.notDeepEqual(plan(options()).instances, plan(options({ seed: 43 })).instances);
});

test("the defaults: 300 instances over 180 s, three supervisors, ten faults of four kinds", (t) => {
  const o = parseChaosArgs([]);
  t.like(o, {
    instances: 300,
    durationS: 180,
    supervisors: 3,
    keep: false,
    faults: { "child-kill": 4, "supervisor-kill": 3, "postgres-crash": 1, terminate: 2 },
  });
  t.true(Number.isInteger(o.seed));
});

test("faults land between 10% and 75% of the run, 10 s apart, as many of each kind as asked", (t) => {
  for (const seed of [1, 2, 3, 1206269202]) {
    const p = plan(options({ seed }));
    const counts: Record<string, number> = {};
    for (const f of p.faults) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
    t.deepEqual(counts, { "child-kill": 4, "supervisor-kill": 3, "postgres-crash": 1, terminate: 2 });
    for (const [i, f] of p.faults.entries()) {
      t.true(f.atMs >= 18_000 && f.atMs <= 135_000, `fault at ${f.atMs} ms`);
      t.true(f.pick >= 0 && f.pick < 1);
      if (i > 0) t.true(f.atMs - p.faults[i - 1]!.atMs >= 9_999, `faults ${p.faults[i - 1]!.atMs} and ${f.atMs} ms`);
    }
  }
  // A short run packs them closer rather than dropping any.
  const short = plan(options({ durationS: 20 }));
  t.is(short.faults.length, 10);
  t.true(short.faults.every((f) => f.atMs >= 2_000 && f.atMs <= 15_000));
});

test("instances: one key each, started in order over the first 80% of the run, with arguments in range", (t) => {
  const p = plan(options({ instances: 500 }));
  t.is(new Set(p.instances.map((i) => i.args.key)).size, 500);
  t.true(p.instances.every((i, k) => i.atMs >= 0 && i.atMs <= 144_000 && (k === 0 || i.atMs >= p.instances[k - 1]!.atMs)));
  t.true(p.instances.every(({ args }) => args.width >= 2 && args.width <= 8 && args.steps >= 4 && args.steps <= 12));
  const long = p.instances.filter((i) => i.args.long).length;
  t.true(long > 150 && long < 350, `${long} of 500 sleep long`);
});

test("a bad count is refused, naming the flag", (t) => {
  t.throws(() => parseChaosArgs(["--instances", "0"]), { message: "--instances takes a whole number of at least 1, not 0" });
  t.throws(() => parseChaosArgs(["--duration", "1.5"]), { message: /--duration takes a whole number/ });
  t.like(parseChaosArgs(["--seed", "9", "--terminates", "0", "--keep"]), { seed: 9, keep: true, faults: { terminate: 0 } });
});
