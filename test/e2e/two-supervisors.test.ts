import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import pg from "pg";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);

test("two supervisors on one database run 200 instances, each exactly once", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const record = path.join(mkdtempSync(path.join(os.tmpdir(), "waymark-record-")), "runs.txt");
  const env = { TEST_RECORD_FILE: record };
  const [a, b] = await Promise.all([
    supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/basic.ts"], env }),
    supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/basic.ts"], env }),
  ]);
  try {
    const { RecordWorkflow } = await import("../fixtures/workflows/basic.js");
    const ids = await RecordWorkflow.startMany(Array.from({ length: 200 }, (_, i) => [i]));
    t.is(ids.length, 200);
    const { WorkflowHandle } = await import("waymark");
    const results = await Promise.all(ids.map((id) => new WorkflowHandle<number>(id, "RecordWorkflow").result()));
    t.deepEqual(
      results,
      Array.from({ length: 200 }, (_, i) => i * 2 + 1),
    );

    // Every instance's action ran once, in one of the two supervisors' children.
    const lines = readFileSync(record, "utf8").trim().split("\n");
    t.is(lines.length, 200);
    t.is(new Set(lines.map((l) => l.split(" ")[0])).size, 200);

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM waymark.instances GROUP BY status`);
    const attempts = await db.query(`SELECT count(*)::int AS n, count(DISTINCT instance_id)::int AS i FROM waymark.action_attempts WHERE status = 'completed'`);
    await db.end();
    t.deepEqual(rows, [{ status: "completed", n: 200 }]);
    t.deepEqual(attempts.rows[0], { n: 200, i: 200 });
  } finally {
    await close();
    t.is(await a.stop(), 0);
    t.is(await b.stop(), 0);
  }
});
