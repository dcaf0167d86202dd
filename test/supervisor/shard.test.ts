import test, { type ExecutionContext } from "ava";
import pg from "pg";
import { loadConfig } from "../../config/env.js";
import { silentLogger } from "../../log/logger.js";
import { uuidv7 } from "../../core/ids.js";
import type { Encoded } from "../../core/codec.js";
import { definitionOf } from "../../sdk/definition.js";
import { instanceClaim, instanceReclaimExpired } from "../../store/leases.js";
import { instanceGet, instanceInsert } from "../../store/instances.js";
import { versionUpsert } from "../../store/versions.js";
import { SupervisorEvents } from "../../core/events.js";
import { ChildPool } from "../../supervisor/pool.js";
import { Shard } from "../../supervisor/shard.js";
import { VersionCache } from "../../supervisor/versions.js";
import { FiveSteps } from "../fixtures/workflows/pool.js";
import { testDatabase } from "../helpers/db.js";

/**
 * One executor shard in this process, against a real Postgres and real forked children: what it
 * does when a claim and a heartbeat cross its own writes.
 */
async function setup(t: ExecutionContext) {
  const db = await testDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const children = new ChildPool({ workerCount: 1, concurrency: 4, maxLifecycle: undefined, modules: ["test/fixtures/workflows/pool.ts"], log: silentLogger });
  await children.start();
  const { config } = loadConfig({ WAYMARK_PERSIST_INTERVAL_MS: "0" });
  const events = new SupervisorEvents();
  const shard = new Shard({ index: 0, db: pool, owner: "me", config, pool: children, versions: new VersionCache(pool), log: silentLogger, events });
  children.on("result", (r) => shard.onResult(r));
  t.teardown(async () => {
    shard.persister.stop();
    await children.stop(1000);
    await pool.end();
    await db.drop();
  });
  const def = definitionOf(FiveSteps);
  const versionId = await versionUpsert(pool, { name: def.name, hash: def.compiled.hash, ir: def.compiled.ir });
  const queue = async (args: Encoded[]) => (await instanceInsert(pool, { id: uuidv7(), workflowName: def.name, versionId, args })).id;
  const finished = (id: string) => new Promise<string>((resolve) => events.on("instance.finished", (e) => e.id === id && resolve(e.status)));
  return { pool, shard, children, events, queue, finished };
}

test("an instance whose exit commits just before a heartbeat is not counted as lost: its finish is still reported", async (t) => {
  const { pool, shard, children, queue, finished } = await setup(t);
  const id = await queue([0, 0]);
  const [claim] = await instanceClaim(pool, { owner: "me", limit: 1, leaseMs: 60_000 });
  const done = finished(id);
  let heartbeats = 0;
  // The heartbeat's view after the last result: the row is no longer running under this owner
  // (its exit is on its way or has committed), which it cannot tell from a lost lease.
  children.on("result", () => {
    const live = shard.live.get(id);
    if (live?.exit) {
      heartbeats++;
      shard.drop(id, "its lease expired and another supervisor may have it", claim!.epoch, { unlessLeaving: true });
    }
  });
  await shard.adopt(claim!);
  t.is(await done, "completed");
  t.true(heartbeats >= 1);
  t.is(shard.completed, 1);
  t.is((await instanceGet(pool, { id }))!.result, 5);
});

test("an instance claimed again while an old copy is held: the old copy is retired first, and the instance completes once", async (t) => {
  const { pool, shard, events, queue, finished } = await setup(t);
  const id = await queue([10, 300]);
  const [first] = await instanceClaim(pool, { owner: "me", limit: 1, leaseMs: 60_000 });
  await shard.adopt(first!);
  const old = shard.live.get(id)!;
  // Its lease expires under this (stalled) process and is reclaimed; this process claims it back.
  await pool.query("UPDATE waymark.instances SET lease_expires_at = now() - interval '1 second'");
  await instanceReclaimExpired(pool, { limit: 10 });
  const [second] = await instanceClaim(pool, { owner: "me", limit: 1, leaseMs: 60_000 });
  t.is(second!.epoch, first!.epoch + 1);
  let reports = 0;
  events.on("instance.finished", (e) => e.id === id && reports++);
  const done = finished(id);
  await shard.adopt(second!);
  t.true(old.gone, "the old copy is retired");
  t.not(shard.live.get(id), old);
  t.is(await done, "completed");
  t.is(reports, 1);
  const row = await instanceGet(pool, { id });
  t.like(row, { status: "completed", result: 15 });
});
