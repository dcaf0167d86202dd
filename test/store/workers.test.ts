import test from "ava";
import { workerStatusDelete, workerStatusList, workerStatusPrune, workerStatusUpsert } from "../../store/workers.js";
import { storeSetup } from "../helpers/store.js";

test("status rows list in start order (waymark status), or most recently refreshed first (the web app); stale ones are pruned", async (t) => {
  const { pool } = await storeSetup(t);
  const publish = (owner: string, startedAt: string) =>
    workerStatusUpsert(pool, { owner, hostname: "h", pid: 1, startedAt: new Date(startedAt), stats: { owner } });
  await publish("first", "2026-01-01T00:00:00Z");
  await publish("second", "2026-01-02T00:00:00Z");
  await publish("first", "2026-01-01T00:00:00Z"); // a refresh keeps the start time
  t.deepEqual(
    (await workerStatusList(pool)).map((r) => r.owner),
    ["first", "second"],
  );
  await publish("second", "2026-01-02T00:00:00Z");
  const refreshed = await workerStatusList(pool, { order: "refreshed" });
  t.deepEqual(
    refreshed.map((r) => r.owner),
    ["second", "first"],
  );
  t.like(refreshed[1], { hostname: "h", pid: 1, startedAt: new Date("2026-01-01T00:00:00Z"), stats: { owner: "first" } });
  await pool.query("UPDATE waymark.worker_status SET updated_at = now() - interval '1 hour' WHERE owner = 'second'");
  t.is(await workerStatusPrune(pool, { staleMs: 60_000 }), 1);
  await workerStatusDelete(pool, { owner: "first" });
  t.deepEqual(await workerStatusList(pool), []);
});
