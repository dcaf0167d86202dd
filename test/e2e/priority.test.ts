import test from "ava";
import pg from "pg";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

/**
 * Priority: among queued instances, higher priority is claimed first. Instances are queued while
 * no supervisor runs; then one supervisor with a single worker slot, holding one instance at a
 * time, runs them, and the attempt rows show the order their actions started in. (Priority orders
 * claims: instances claimed in one batch start together, see the README.)
 */
const dbUrl = useTestDatabase(test);
const notes = notesDir();
let sup: SupervisorProcess | undefined;

test.after.always(async () => {
  await close();
  await sup?.stop();
});

test("higher-priority instances run first, older first within a priority", async (t) => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  const C = await import("../fixtures/workflows/control.js");
  const queued: Array<{ id: string; label: string }> = [];
  // Low ones first, so age alone would run them first.
  for (const [label, priority] of [
    ["low-1", 0],
    ["low-2", 0],
    ["high-1", 10],
    ["low-3", 0],
    ["high-2", 10],
    ["mid-1", 5],
    ["high-3", 10],
  ] as const) {
    const h = await new C.MarkWorkflow().start(["priority", label], { priority });
    queued.push({ id: h.instanceId, label });
  }
  const [many] = await C.MarkWorkflow.startMany([["priority", "bulk-high"]], { priority: 20 });
  queued.push({ id: many!, label: "bulk-high" });

  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/control.ts"],
    env: {
      TEST_DIR: notes.dir,
      WAYMARK_WORKER_COUNT: "1",
      WAYMARK_CONCURRENT_PER_WORKER: "1",
      WAYMARK_EXECUTOR_SHARDS: "1",
      WAYMARK_MAX_CONCURRENT_INSTANCES: "1",
    },
  });
  const { WorkflowHandle } = await import("waymark");
  await Promise.all(queued.map((q) => new WorkflowHandle(q.id, "MarkWorkflow").result()));

  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  const { rows } = await c.query<{ label: string }>(
    `SELECT a.args->>1 AS label FROM waymark.action_attempts a JOIN waymark.instances i ON i.id = a.instance_id
      WHERE i.id = ANY($1::uuid[]) ORDER BY a.started_at, a.finished_at`,
    [queued.map((q) => q.id)],
  );
  await c.end();
  t.deepEqual(
    rows.map((r) => r.label),
    ["bulk-high", "high-1", "high-2", "high-3", "mid-1", "low-1", "low-2", "low-3"],
  );
  t.deepEqual(
    notes.lines("priority.txt").map((l) => l.split(" ")[0]),
    ["bulk-high", "high-1", "high-2", "high-3", "mid-1", "low-1", "low-2", "low-3"],
  );
});
