import test from "ava";
import { close, isWaymarkError, WorkflowHandle } from "waymark";
import { ownServer } from "../helpers/server.js";
import { query } from "../helpers/status.js";

test.serial("start() during a Postgres outage shorter than 15 s waits for the database and queues exactly once; startMany() and status() too", async (t) => {
  const server = await ownServer("waymark-sdk-outage-");
  try {
    const { FiveSteps } = await import("../fixtures/workflows/pool.js");
    // Migrated, the version registered and the completion listener connected: what a running
    // app holds when its database goes away.
    const first = await new FiveSteps().start([0, 0]);
    await server.stop();
    // Called while nothing listens at the address: the completion listener's connection and the
    // pool's are both gone.
    const started = new FiveSteps().start([41, 0]);
    const many = FiveSteps.startMany([
      [42, 0],
      [43, 0],
    ]);
    const status = first.status();
    for (const p of [started, many, status]) p.catch(() => undefined);
    t.is(await server.restart(), server.url, "the server came back on the same address");
    const handle = await started;
    t.true(handle instanceof WorkflowHandle);
    t.is(await status, "queued");
    const ids = await many;
    const rows = await query(server.url, "SELECT id::text, args FROM waymark.instances");
    t.deepEqual(rows.map((r) => JSON.stringify(r.args)).sort(), ["[0,0]", "[41,0]", "[42,0]", "[43,0]"], "each instance queued exactly once");
    t.deepEqual(rows.map((r) => r.id).sort(), [first.instanceId, handle.instanceId, ...ids].sort());
    // The listener is back: a start after the outage goes through at once.
    await new FiveSteps().start([44, 0]);
    t.is((await query(server.url, "SELECT count(*)::int AS n FROM waymark.instances"))[0].n, 5);
  } finally {
    await close();
    await server.remove();
  }
});

test.serial("a database this process never reached fails its first call at once, naming WAYMARK_DATABASE_URL (password hidden) and the cause", async (t) => {
  const saved = process.env.WAYMARK_DATABASE_URL;
  process.env.WAYMARK_DATABASE_URL = "postgres://app:s3cr%40t@127.0.0.1:1/app";
  await close();
  try {
    const { FiveSteps } = await import("../fixtures/workflows/pool.js");
    const handle = new WorkflowHandle("01890000-0000-7000-8000-000000000000", "FiveSteps");
    for (const call of [
      () => new FiveSteps().start([1, 0]),
      () => FiveSteps.startMany([[1, 0]]),
      () => handle.status(),
      () => handle.result(),
      () => handle.cancel(),
    ]) {
      const began = Date.now();
      const e = await t.throwsAsync(call());
      t.true(isWaymarkError(e) && e.code === "WAYMARK_CONNECTION", String(e));
      t.is(
        e?.message,
        "cannot connect to the database (WAYMARK_DATABASE_URL=postgres://app:***@127.0.0.1:1/app): connection refused at 127.0.0.1:1 (ECONNREFUSED): is PostgreSQL running and listening there?",
      );
      t.true(Date.now() - began < 5000, "it did not wait out the outage budget");
    }
  } finally {
    process.env.WAYMARK_DATABASE_URL = saved;
    await close();
  }
});
