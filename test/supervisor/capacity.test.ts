import test from "ava";
import { close, WorkflowHandle } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { waitForStatus } from "../helpers/status.js";
import { supervise } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);

test("back-pressure: a supervisor holds at most WAYMARK_MAX_CONCURRENT_INSTANCES, and its shards share the instances and advance them", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const sup = await supervise({
    databaseUrl: url,
    modules: ["test/fixtures/workflows/pool.ts"],
    env: { WAYMARK_MAX_CONCURRENT_INSTANCES: "5", WAYMARK_EXECUTOR_SHARDS: "2", WAYMARK_RUNNER_PROFILE_INTERVAL_MS: "100" },
  });
  try {
    const { FiveSteps } = await import("../fixtures/workflows/pool.js");
    const ids = await FiveSteps.startMany(Array.from({ length: 40 }, (_, i) => [i, 20]));
    const values = await sup.alive(Promise.all(ids.map((id) => new WorkflowHandle<number>(id, "FiveSteps").result())));
    t.deepEqual(
      values,
      Array.from({ length: 40 }, (_, i) => i + 5),
    );
    const stats = await waitForStatus(url, sup.pid, (s) => s.completed >= 40);
    t.true(stats.peakInstances >= 1 && stats.peakInstances <= 5, `held ${stats.peakInstances} instances at once`);
    // Partitioned by instance id: each shard ran some of them to completion.
    t.is(stats.shards.length, 2);
    t.true(
      stats.shards.every((s: { completed: number }) => s.completed > 0),
      JSON.stringify(stats.shards),
    );
    t.is(
      stats.shards.reduce((n: number, s: { completed: number }) => n + s.completed, 0),
      40,
    );
  } finally {
    await close();
    t.is(await sup.stop(), 0);
  }
});
