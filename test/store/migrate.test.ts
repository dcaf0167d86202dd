import test from "ava";
import pg from "pg";
import { migrate, migrationsLoad } from "../../store/migrate.js";
import { testDatabase } from "../helpers/db.js";

test("migrations apply in order, are recorded, and a second run does nothing", async (t) => {
  const db = await testDatabase({ empty: true });
  t.teardown(() => db.drop());
  const all = await migrationsLoad();
  t.true(all.length >= 1);
  const first = await migrate({ connectionString: db.url });
  t.deepEqual(
    first.applied,
    all.map((m) => m.version),
  );
  const second = await migrate({ connectionString: db.url });
  t.deepEqual(second.applied, []);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  const { rows } = await c.query("SELECT version, name FROM waymark.migrations ORDER BY version");
  const tables = await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'waymark' ORDER BY 1");
  await c.end();
  t.deepEqual(
    rows.map((r) => r.version),
    all.map((m) => m.version),
  );
  t.deepEqual(
    tables.rows.map((r) => r.table_name),
    [
      "action_attempts",
      "action_owners",
      "action_slots",
      "action_starts",
      "action_waits",
      "events",
      "instances",
      "migrations",
      "published",
      "samples",
      "schedules",
      "state_chunks",
      "worker_status",
      "workflow_logs",
      "workflow_versions",
    ],
  );
});

test("five migrators starting at once apply each migration exactly once", async (t) => {
  const db = await testDatabase({ empty: true });
  t.teardown(() => db.drop());
  const results = await Promise.all(Array.from({ length: 5 }, () => migrate({ connectionString: db.url })));
  const applied = results.flatMap((r) => r.applied).sort((a, b) => a - b);
  t.deepEqual(
    applied,
    (await migrationsLoad()).map((m) => m.version),
  );
});

test("the claim query walks only runnable rows: a partial index serves it however many finished rows pile up", async (t) => {
  const db = await testDatabase();
  t.teardown(() => db.drop());
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  t.teardown(() => c.end());
  const { rows } = await c.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'waymark' AND tablename = 'instances'`);
  const queued = rows.find((r) => r.indexname === "instances_queued");
  // The claim's exact predicate: isolated instances have an index of their own.
  t.regex(queued?.indexdef ?? "", /WHERE \(\(status = 'queued'::text\) AND \(NOT isolated\)\)/);
  const isolated = rows.find((r) => r.indexname === "instances_isolated");
  t.regex(isolated?.indexdef ?? "", /WHERE \(\(status = 'queued'::text\) AND isolated\)/);
  const sleeping = rows.find((r) => r.indexname === "instances_sleeping");
  t.regex(sleeping?.indexdef ?? "", /WHERE \(status = 'sleeping'::text\)/);
});
