import test from "ava";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { query, waitForStatus } from "../helpers/status.js";
import { supervise } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);

test("recycling: 2 workers, lifecycle 10, 300 actions: each runs once, no child runs more than 10, ~30 children, never more than 4 alive", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const sup = await supervise({
    databaseUrl: url,
    modules: ["test/fixtures/workflows/pool.ts"],
    env: { WAYMARK_WORKER_COUNT: "2", WAYMARK_CONCURRENT_PER_WORKER: "5", WAYMARK_MAX_ACTION_LIFECYCLE: "10", WAYMARK_RUNNER_PROFILE_INTERVAL_MS: "200" },
  });
  try {
    const { PidFanOut } = await import("../fixtures/workflows/pool.js");
    const results = await Promise.all(Array.from({ length: 3 }, () => new PidFanOut().run(100)));
    const all = results.flat();
    t.is(all.length, 300);
    for (const r of results)
      t.deepEqual(
        r.map((x) => x.i),
        Array.from({ length: 100 }, (_, i) => i),
      );
    // Each action ran once: one attempt per call, every one completed (a result lost when its
    // child retired would show as a failed attempt and a second one).
    const [attempts] = await query(
      url,
      "SELECT count(*)::int AS n, max(attempt)::int AS most, count(*) FILTER (WHERE status <> 'completed')::int AS other FROM waymark.action_attempts",
    );
    t.deepEqual(attempts, { n: 300, most: 1, other: 0 });
    const perPid = new Map<number, number>();
    for (const { pid } of all) perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
    const most = Math.max(...perPid.values());
    t.true(most <= 10, `a child ran ${most} actions`);
    t.true(perPid.size >= 30 && perPid.size <= 35, `${perPid.size} distinct children ran actions`);
    // The status row is refreshed every 200 ms: wait for the one that counts every action.
    const stats = await waitForStatus(url, sup.pid, (s) => s.actions >= 300);
    t.true(stats!.peakChildren <= 4, `peak ${stats!.peakChildren} children alive at once`);
    t.true(stats!.recycled >= 28, `${stats!.recycled} retirements`);
    // The pool is back to full strength once the last successors have loaded: a ready child in
    // each slot (a child short of its lifecycle may still wait beside its loaded successor).
    const settled = await waitForStatus(
      url,
      sup.pid,
      (s) => new Set(s.children.filter((c: { state: string }) => c.state === "ready").map((c: { slot: number }) => c.slot)).size === 2,
    );
    t.true(settled.children.length <= 4);
  } finally {
    await close();
    t.is(await sup.stop(), 0);
  }
});
