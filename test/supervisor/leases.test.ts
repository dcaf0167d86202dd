import test from "ava";
import { close, WorkflowHandle } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { query } from "../helpers/status.js";
import { supervise } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);

test("kill -9 of one of two supervisors mid-run: every instance completes once, with the right result, within the lease TTL plus a few seconds", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const notes = notesDir();
  const ttl = 3000;
  const env = {
    TEST_DIR: notes.dir,
    WAYMARK_LOCK_TTL_MS: String(ttl),
    WAYMARK_LOCK_HEARTBEAT_MS: "1000",
    WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "500",
    WAYMARK_MAX_CONCURRENT_INSTANCES: "100",
  };
  const [a, b] = await Promise.all([
    supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env }),
    supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env }),
  ]);
  try {
    const { FiveSteps } = await import("../fixtures/workflows/pool.js");
    // Five 100 ms steps each: seconds of work for two supervisors of 20 slots.
    const ids = await FiveSteps.startMany(Array.from({ length: 300 }, (_, i) => [i * 10, 100]));
    const results = ids.map((id) => new WorkflowHandle<number>(id, "FiveSteps").result());
    // Kill one supervisor once both hold running instances.
    await until(
      "both supervisors holding instances",
      async () => {
        const [row] = await query(
          url,
          "SELECT count(*) FILTER (WHERE status = 'completed')::int AS done, count(DISTINCT lease_owner)::int AS owners FROM waymark.instances",
        );
        if (row.done === 300) throw new Error("the two supervisors never both held instances: all completed first");
        return row.owners >= 2;
      },
      20_000,
      20,
    );
    const heldByA = (await query(url, "SELECT count(*)::int AS n FROM waymark.instances WHERE status = 'running' AND lease_owner LIKE $1", [`%:${a.pid}:%`]))[0]
      .n;
    t.true(heldByA > 0, "the killed supervisor held running instances");
    await a.kill();
    const killedAt = Date.now();
    const values = await Promise.all(results);
    const took = Date.now() - killedAt;
    t.deepEqual(
      values,
      Array.from({ length: 300 }, (_, i) => i * 10 + 5),
    );
    t.true(took < ttl + 10_000, `recovery took ${took} ms`);
    const rows = await query(url, "SELECT status, count(*)::int AS n FROM waymark.instances GROUP BY status");
    t.deepEqual(rows, [{ status: "completed", n: 300 }]);
    // Each instance's five steps completed once in the record (a step in flight at the kill may have run twice: at least once).
    const steps = await query(
      url,
      "SELECT count(*)::int AS n, count(DISTINCT (instance_id, action_seq))::int AS calls FROM waymark.action_attempts WHERE status = 'completed'",
    );
    t.is(steps[0].calls, 1500);
    const executions = notes.lines("steps.txt").length;
    t.true(executions >= 1500 && executions <= 1500 + 100, `${executions} executions`);
  } finally {
    await close();
    await b.stop();
  }
});
