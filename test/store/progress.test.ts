import test from "ava";
import pg from "pg";
import { instanceClaim, instanceReclaimExpired } from "../../store/leases.js";
import { instancesPersist } from "../../store/progress.js";
import { instanceCancel, instanceGet } from "../../store/instances.js";
import { CHANNELS } from "../../store/db.js";
import { storeSetup } from "../helpers/store.js";

test("a write guarded by a stale lease changes nothing and reports the instance as lost", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [id] = await queue(1);
  const [claimA] = await instanceClaim(pool, { owner: "a", limit: 1, leaseMs: 1 });
  t.is(claimA!.id, id);
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(await instanceReclaimExpired(pool, { limit: 10 }), { requeued: 1, failed: [] });
  const [claimB] = await instanceClaim(pool, { owner: "b", limit: 1, leaseMs: 10_000 });
  t.is(claimB!.epoch, claimA!.epoch + 1);
  // The old owner's write is refused, the new owner's lands.
  const stale = await instancesPersist(pool, {
    owner: "a",
    instances: [{ id: id!, epoch: claimA!.epoch, status: "completed", state: null, result: "stale" }],
    attempts: [],
  });
  t.is(stale.size, 0);
  const fresh = await instancesPersist(pool, {
    owner: "b",
    instances: [{ id: id!, epoch: claimB!.epoch, status: "completed", state: null, result: "fresh" }],
    attempts: [],
  });
  t.deepEqual([...fresh.keys()], [id]);
  const row = await instanceGet(pool, { id: id! });
  t.is(row!.status, "completed");
  t.is(row!.result, "fresh");
  t.is(row!.leaseOwner, null);
});

test("a cancellation requested while the owner writes the instance to sleep ends it cancelled, and its caller hears it", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [id] = await queue(1);
  const [claim] = await instanceClaim(pool, { owner: "a", limit: 1, leaseMs: 60_000 });
  const listener = new pg.Client({ connectionString: (pool as unknown as { options: { connectionString: string } }).options.connectionString });
  await listener.connect();
  t.teardown(() => listener.end());
  const heard = new Promise<string>((resolve) => listener.on("notification", (n) => n.channel === CHANNELS.done && resolve(n.payload ?? "")));
  await listener.query(`LISTEN ${CHANNELS.done}`);
  // The row is running: the cancel only flags it, for its owner to act on.
  t.is(await instanceCancel(pool, { id: id!, error: { $w: "err", name: "WorkflowCancelledError", message: "by the caller" } as never }), "running");
  // The owner, not yet aware, writes the instance to a long sleep.
  const cancelError = { $w: "err", name: "WorkflowCancelledError", message: "cancelled while going to sleep" } as never;
  const written = await instancesPersist(pool, {
    owner: "a",
    instances: [{ id: id!, epoch: claim!.epoch, status: "sleeping", state: "{}", scheduledAt: new Date(Date.now() + 3_600_000), cancelError }],
    attempts: [],
  });
  t.deepEqual([...written.keys()], [id]);
  const row = await instanceGet(pool, { id: id! });
  t.is(row!.status, "cancelled");
  t.is((row!.error as { name: string }).name, "WorkflowCancelledError");
  t.not(row!.finishedAt, null);
  t.is(await heard, id);
});
