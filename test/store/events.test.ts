import test from "ava";
import { uuidv7 } from "../../core/ids.js";
import { effectsApply, eventSend, eventsFetch, eventsPending, publishedGet } from "../../store/events.js";
import { instanceCancel, instanceGet, instancesCollect } from "../../store/instances.js";
import { instanceClaim } from "../../store/leases.js";
import { instancesPersist } from "../../store/progress.js";
import { versionUpsert } from "../../store/versions.js";
import { retryLostConnection } from "../../store/db.js";
import { storeSetup } from "../helpers/store.js";
import { until } from "../helpers/wait.js";

/**
 * The mailboxes and effects in SQL: positions in send order, idempotent sends and effects (each
 * written again after a crash changes nothing twice), consumption by the lease-guarded write,
 * no lost wake-up between a send and a write that puts the instance to sleep, and children's
 * ends reaching their parents.
 */

const cancelError = { $w: "err", name: "WorkflowCancelledError", message: "cancelled" };

async function row(pool: import("pg").Pool, id: string) {
  const { rows } = await pool.query("SELECT status, events_sent, scheduled_at <= now() AS due, awaits_children FROM waymark.instances WHERE id = $1", [id]);
  return rows[0] as { status: string; events_sent: number; due: boolean; awaits_children: boolean };
}

test("sends append in order; a key stores once; unknown and finished instances are refused and nothing is stored", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [id] = await queue(1);
  t.is(await eventSend(pool, { id: id!, name: "a", payload: 1 }), "sent");
  t.is(await eventSend(pool, { id: id!, name: "b", payload: 2, key: "k" }), "sent");
  t.is(await eventSend(pool, { id: id!, name: "a", payload: 3, key: "k" }), "duplicate", "a key is unique per instance across names");
  t.is(await eventSend(pool, { id: id!, name: "a", payload: 4 }), "sent");
  t.is(await eventSend(pool, { id: uuidv7(), name: "a", payload: 1 }), "not_found");
  const got = (await eventsFetch(pool, { ids: [id!], after: [0] })).get(id!)!;
  t.is(got.sent, 3);
  t.deepEqual(
    got.messages.map((m) => [m.position, m.name, m.payload]),
    [
      [1, "a", 1],
      [2, "b", 2],
      [3, "a", 4],
    ],
  );
  t.deepEqual(
    (await eventsFetch(pool, { ids: [id!], after: [2] })).get(id!)!.messages.map((m) => m.position),
    [3],
  );
  await instanceCancel(pool, { id: id!, error: cancelError });
  t.is(await eventSend(pool, { id: id!, name: "a", payload: 5 }), "finished");
  t.is(await eventSend(pool, { id: id!, name: "b", payload: 2, key: "k" }), "duplicate", "a retried send after the end still resolves");
  t.is((await eventsPending(pool, { id: id! })).length, 3);
});

test("a message to a sleeping instance makes it due at once; a write to sleep with a message it has not read is due at once too", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [a, b] = await queue(2);
  const claims = await instanceClaim(pool, { owner: "s", limit: 2, leaseMs: 60_000 });
  const epoch = (id: string) => claims.find((c) => c.id === id)!.epoch;
  // a: asleep without a deadline, then a message: due now.
  await instancesPersist(pool, { owner: "s", instances: [{ id: a!, epoch: epoch(a!), status: "sleeping", state: "{}", seen: 0 }], attempts: [] });
  t.like(await row(pool, a!), { status: "sleeping", due: false });
  t.is(await eventSend(pool, { id: b!, name: "x", payload: 1 }), "sent");
  t.is(await eventSend(pool, { id: a!, name: "x", payload: 1 }), "sent");
  t.like(await row(pool, a!), { status: "sleeping", due: true, events_sent: 1 });
  // b: the message came while it ran; it writes itself to sleep having read nothing: due at once, and told so.
  const written = await instancesPersist(pool, {
    owner: "s",
    instances: [{ id: b!, epoch: epoch(b!), status: "sleeping", state: "{}", seen: 0 }],
    attempts: [],
  });
  t.is(written.get(b!), 1);
  t.like(await row(pool, b!), { status: "sleeping", due: true });
  // Claimed again, it reads the message; its write takes it, with the state that took it.
  const [again] = await instanceClaim(pool, { owner: "s", limit: 1, leaseMs: 60_000 });
  t.is(again!.eventsSent, 1);
  await instancesPersist(pool, {
    owner: "s",
    instances: [{ id: again!.id, epoch: again!.epoch, status: "running", state: "{}", consumed: [1], seen: 1 }],
    attempts: [],
  });
  t.deepEqual((await eventsFetch(pool, { ids: [again!.id], after: [0] })).get(again!.id)!.messages, []);
});

test("a consumption in a write whose lease is gone is not recorded", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [id] = await queue(1);
  const [c] = await instanceClaim(pool, { owner: "s", limit: 1, leaseMs: 60_000 });
  await eventSend(pool, { id: id!, name: "x", payload: 1 });
  const written = await instancesPersist(pool, {
    owner: "other",
    instances: [{ id: id!, epoch: c!.epoch, status: "running", state: "{}", consumed: [1] }],
    attempts: [],
  });
  t.is(written.size, 0);
  t.is((await eventsPending(pool, { id: id! })).length, 1);
});

test("effects are idempotent: a start, a keyed start, a send and a publication written twice change nothing twice", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [parent, target] = await queue(2);
  const child = uuidv7();
  const existing = await queue(1);
  await pool.query("UPDATE waymark.instances SET idempotency_key = 'wh' WHERE id = $1", [existing[0]]);
  const effects = [
    { instanceId: parent!, seq: 1, t: "start" as const, workflow: "W", childId: child, args: [1], key: null, detached: false },
    { instanceId: parent!, seq: 2, t: "start" as const, workflow: "W", childId: uuidv7(), args: [2], key: "wh", detached: true },
    { instanceId: parent!, seq: 3, t: "send" as const, to: target!, name: "go", payload: "p", key: `from:${parent}:3` },
    { instanceId: parent!, seq: 5, t: "publish" as const, key: "stage", value: "later" },
    { instanceId: parent!, seq: 4, t: "publish" as const, key: "stage", value: "earlier" },
    { instanceId: parent!, seq: 6, t: "start" as const, workflow: "NoSuchWorkflow", childId: uuidv7(), args: [], key: null, detached: true },
  ];
  const first = await effectsApply(pool, effects);
  const second = await effectsApply(pool, effects);
  const bySeq = (list: typeof first) => Object.fromEntries(list.map((o) => [o.seq, [o.r, o.id ?? null]]));
  t.deepEqual(bySeq(first), {
    1: ["ok", child],
    2: ["ok", existing[0]],
    3: ["sent", null],
    4: ["ok", null],
    5: ["ok", null],
    6: ["no_version", null],
  });
  t.deepEqual(bySeq(second), { ...bySeq(first), 3: ["duplicate", null] });
  const { rows } = await pool.query("SELECT id::text, parent_id::text, parent_step, detached FROM waymark.instances WHERE parent_id = $1", [parent]);
  t.deepEqual(rows, [{ id: child, parent_id: parent, parent_step: 1, detached: false }]);
  t.is((await eventsPending(pool, { id: target! })).length, 1);
  t.deepEqual(await publishedGet(pool, { id: parent!, key: "stage" }), { found: true, value: "later" }, "a step written again never overwrites a later one");
  t.deepEqual(await publishedGet(pool, { id: parent!, key: "nothing" }), { found: false });
  t.is(await publishedGet(pool, { id: uuidv7(), key: "stage" }), undefined);
});

test("a child's end reaches its waiting parent's mailbox however it ends; a parent's end cancels the children it waits for, not the detached", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [parent] = await queue(1);
  const [a, b, d] = [uuidv7(), uuidv7(), uuidv7()];
  await effectsApply(pool, [
    { instanceId: parent!, seq: 1, t: "start", workflow: "W", childId: a, args: [], key: null, detached: false },
    { instanceId: parent!, seq: 2, t: "start", workflow: "W", childId: b, args: [], key: null, detached: false },
    { instanceId: parent!, seq: 3, t: "start", workflow: "W", childId: d, args: [], key: null, detached: true },
  ]);
  // a completes through its own write; the parent, running, hears of it in its mailbox.
  const claims = await instanceClaim(pool, { owner: "s", limit: 10, leaseMs: 60_000 });
  const ca = claims.find((c) => c.id === a)!;
  const cp = claims.find((c) => c.id === parent)!;
  await instancesPersist(pool, { owner: "s", instances: [{ id: a, epoch: ca.epoch, status: "completed", state: null, result: 42 }], attempts: [] });
  const box = (await eventsFetch(pool, { ids: [parent!], after: [0] })).get(parent!)!;
  t.deepEqual(
    box.messages.map((m) => [m.childId, m.payload]),
    [[a, { status: "completed", workflow: "W", result: 42, error: null }]],
  );
  // The parent, which started children it waits for, fails: b is cancelled with it, d runs on.
  await instancesPersist(pool, {
    owner: "s",
    instances: [{ id: parent!, epoch: cp.epoch, status: "failed", state: null, error: { $w: "err", name: "Error", message: "x" }, awaitsChildren: true }],
    attempts: [],
  });
  t.is((await row(pool, parent!)).awaits_children, true);
  // b was running (claimed above): its supervisor is asked to cancel it.
  const flags = await pool.query("SELECT id::text, cancel_requested FROM waymark.instances WHERE id = ANY($1::uuid[]) ORDER BY id", [[b, d]]);
  t.deepEqual(Object.fromEntries(flags.rows.map((r) => [r.id, r.cancel_requested])), { [b]: true, [d]: false });
  t.is((await instanceGet(pool, { id: d }))!.status, "running");
  t.is((await instanceGet(pool, { id: d }))!.parentId, parent);
});

test("garbage collection takes an instance's messages and published values with it", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [id] = await queue(1);
  await eventSend(pool, { id: id!, name: "x", payload: 1 });
  await effectsApply(pool, [{ instanceId: id!, seq: 1, t: "publish", key: "k", value: 1 }]);
  await instanceCancel(pool, { id: id!, error: cancelError });
  await pool.query("UPDATE waymark.instances SET finished_at = now() - interval '2 hours' WHERE id = $1", [id]);
  t.is(await instancesCollect(pool, { retentionHours: 1, limit: 10 }), 1);
  const { rows } = await pool.query(
    "SELECT (SELECT count(*) FROM waymark.events WHERE instance_id = $1)::int AS e, (SELECT count(*) FROM waymark.published WHERE instance_id = $1)::int AS p",
    [id],
  );
  t.deepEqual(rows[0], { e: 0, p: 0 });
});

test("a child starts on the latest registered version of its workflow", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [parent] = await queue(1);
  const v1 = await versionUpsert(pool, { name: "Child", hash: "c1", ir: { format: 2, name: "Child", fns: [] } as never });
  const v2 = await versionUpsert(pool, { name: "Child", hash: "c2", ir: { format: 2, name: "Child", fns: [] } as never });
  const start = (seq: number) =>
    effectsApply(pool, [{ instanceId: parent!, seq, t: "start", workflow: "Child", childId: uuidv7(), args: [], key: null, detached: true }]);
  const version = async (id: string) => (await pool.query("SELECT version_id FROM waymark.instances WHERE id = $1", [id])).rows[0].version_id;
  t.is(await version((await start(1))[0]!.id!), v2);
  // An old process registering the first version again makes it the latest.
  await versionUpsert(pool, { name: "Child", hash: "c1", ir: { format: 2, name: "Child", fns: [] } as never, latest: true });
  t.is(await version((await start(2))[0]!.id!), v1);
});

test("a parent cancelled while its child finishes: Postgres breaks the deadlock, and the cancel, asked again, lands", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [parent] = await queue(1);
  const child = uuidv7();
  await effectsApply(pool, [{ instanceId: parent!, seq: 1, t: "start", workflow: "W", childId: child, args: [], key: null, detached: false }]);
  const claims = await instanceClaim(pool, { owner: "s", limit: 10, leaseMs: 60_000 });
  t.is(claims.length, 2);
  // The parent sleeps, waiting for its child.
  const p = claims.find((c) => c.id === parent)!;
  await instancesPersist(pool, {
    owner: "s",
    instances: [{ id: parent!, epoch: p.epoch, status: "sleeping", state: "{}", seen: 0, awaitsChildren: true }],
    attempts: [],
  });
  // The child's supervisor holds the child's row (its write is under way)...
  const writer = await pool.connect();
  t.teardown(() => writer.release());
  await writer.query("BEGIN");
  await writer.query("UPDATE waymark.instances SET updated_at = now() WHERE id = $1", [child]);
  // ...while the app cancels the parent (which cancels the child it waits for: it waits on the child's row)...
  let attempts = 0;
  const cancelled = retryLostConnection(() => {
    attempts++;
    return instanceCancel(pool, { id: parent!, error: cancelError });
  });
  // Blocked by this writer, not just by anything: pg_locks spans every database in the cluster,
  // and another test's waiting lock once let the child finish before the cancel reached it.
  const writerPid = (await writer.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
  await until("the cancel waiting on the child's row", async () => {
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))", [writerPid]);
    return rows[0].n > 0;
  });
  // ...and the child finishes, which wakes its parent (waiting on the parent's row): a deadlock.
  const finished = writer.query("UPDATE waymark.instances SET status = 'completed', finished_at = now() WHERE id = $1", [child]).then(
    () => writer.query("COMMIT"),
    async (e: unknown) => {
      await writer.query("ROLLBACK");
      throw e;
    },
  );
  const [cancel, write] = await Promise.allSettled([cancelled, finished]);
  t.deepEqual(cancel, { status: "fulfilled", value: "sleeping" }, "the cancel resolves: a deadlock is never the app's to handle");
  t.is(write.status, "fulfilled");
  t.true(attempts >= 2, `Postgres chose the cancel to abort, and it was asked again (${attempts} attempts)`);
});
