/**
 * Maintenance's sampler (supervisor/maintenance.ts) in this process against a real Postgres: two
 * supervisors' loops side by side write one sample per interval between them, on the
 * intervals' boundaries, from their first pass on.
 */
import test from "ava";
import { silentLogger } from "../../log/logger.js";
import { sampleList } from "../../store/samples.js";
import { Maintenance } from "../../supervisor/maintenance.js";
import { storeSetup } from "../helpers/store.js";
import { until } from "../helpers/wait.js";

test("two supervisors' samplers write one sample per interval between them, and stop", async (t) => {
  const { pool } = await storeSetup(t);
  const interval = 1000;
  const make = (owner: string) =>
    new Maintenance({ db: pool, owner, profileIntervalMs: 60_000, retentionHours: 24, log: silentLogger, stats: () => ({}), sampleIntervalMs: interval });
  const a = make("a");
  const b = make("b");
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  a.start();
  b.start();
  // Both first passes run at once and aim at the same interval: one of them writes it.
  const samples = await until("four samples", async () => {
    const list = await sampleList(pool, { windowMs: 3_600_000 });
    return list.length >= 4 && list;
  });
  await Promise.all([a.stop(), b.stop()]);
  await a.stop(); // twice is fine
  for (const s of samples) {
    t.is(s.at.getTime() % interval, 0, s.at.toISOString());
    t.is(s.seconds, 1);
  }
  // One row per interval (the primary key), on the boundaries. Each pass aims at the middle of
  // the next interval, so only a timer late by more than half an interval (on a loaded machine)
  // would leave one out: gaps are not asserted, order and alignment are.
  const steps = samples.slice(1).map((s, i) => s.at.getTime() - samples[i]!.at.getTime());
  t.true(
    steps.every((d) => d > 0 && d % interval === 0),
    JSON.stringify(steps),
  );
});
