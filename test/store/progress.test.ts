import test from "ava";
import * as fc from "fast-check";
import pg from "pg";
import { instanceClaim, instanceReclaimExpired } from "../../store/leases.js";
import { attemptList } from "../../store/attempts.js";
import { instancesPersist } from "../../store/progress.js";
import { instanceCancel, instanceGet, instanceGetFull, instancesCollect, OUTCOMES, outcomesParse } from "../../store/instances.js";
import { workflowLogList } from "../../store/logs.js";
import { LOG_RECORDS_KEPT } from "../../core/limits.js";
import { arrayParam, CHANNELS } from "../../store/db.js";
import type { Encoded } from "../../core/codec.js";
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

test("the write that finishes instances tells their callers the outcomes (no read needed), only for writes that held, in payloads under NOTIFY's limit; a large outcome by id", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const ids = await queue(80);
  const claims = await instanceClaim(pool, { owner: "a", limit: 80, leaseMs: 60_000 });
  const listener = new pg.Client({ connectionString: (pool as unknown as { options: { connectionString: string } }).options.connectionString });
  await listener.connect();
  t.teardown(() => listener.end());
  const payloads: string[] = [];
  listener.on("notification", (n) => n.channel === CHANNELS.done && payloads.push(n.payload ?? ""));
  await listener.query(`LISTEN ${CHANNELS.done}`);
  const big = "x".repeat(2000);
  const epoch = new Map(claims.map((c) => [c.id, c.epoch]));
  const error = { $w: "err", name: "Error", message: "ünïcode fails" } as never;
  // 77 small outcomes (600 bytes each: several payloads), one failure, one large result, and one
  // write under a stale epoch that must tell nobody anything.
  const instances = ids.map((id, n) => {
    const base = { id, epoch: epoch.get(id)!, state: null, workflowName: "W" };
    if (n === 0) return { ...base, status: "failed" as const, error };
    if (n === 1) return { ...base, status: "completed" as const, result: big };
    if (n === 2) return { ...base, epoch: base.epoch + 7, status: "completed" as const, result: 1 };
    return { ...base, status: "completed" as const, result: `${n}:${"y".repeat(590)}` };
  });
  const written = await instancesPersist(pool, { owner: "a", instances, attempts: [] });
  t.is(written.size, 79);
  // Notifications are delivered in order, at commit: a round trip on the listener's connection
  // after the write has committed comes back after them.
  await listener.query("SELECT 1");
  const told = payloads.filter((p) => p.startsWith(OUTCOMES));
  t.true(told.length >= 6, `${told.length} outcome payloads`);
  t.true(payloads.every((p) => Buffer.byteLength(p) < 8000));
  const outcomes = told.flatMap(outcomesParse);
  t.is(outcomes.length, 78);
  t.deepEqual(
    outcomes.find((o) => o.id === ids[0]),
    { id: ids[0]!, workflowName: "W", status: "failed", result: null, error },
  );
  t.deepEqual(
    outcomes.find((o) => o.id === ids[5]),
    { id: ids[5]!, workflowName: "W", status: "completed", result: `5:${"y".repeat(590)}`, error: null },
  );
  t.false(outcomes.some((o) => o.id === ids[1] || o.id === ids[2]));
  // The large one by id (its caller reads it); the refused one not at all.
  t.deepEqual(
    payloads.filter((p) => !p.startsWith(OUTCOMES)),
    [ids[1]],
  );
});

test("log records go with the state that made them: once each (a batch written again adds none), only for a write whose lease holds, the latest LOG_RECORDS_KEPT kept, and collected with their instance", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [id, other] = await queue(2);
  const claims = await instanceClaim(pool, { owner: "a", limit: 2, leaseMs: 60_000 });
  const epoch = (x: string) => claims.find((c) => c.id === x)!.epoch;
  const record = (seq: number) => ({
    seq,
    at: 1_700_000_000_000 + seq,
    level: "info" as const,
    line: 10 + seq,
    nodeId: "log@3:5",
    message: `record ${seq} <b>`,
  });
  const write = (x: string, logs: ReturnType<typeof record>[], e = epoch(x)) =>
    instancesPersist(pool, { owner: "a", instances: [{ id: x, epoch: e, status: "running", state: "{}", logs }], attempts: [] });
  const rows = async (x: string) =>
    (await pool.query("SELECT seq::int, at, level, line, node_id, message FROM waymark.workflow_logs WHERE instance_id = $1 ORDER BY seq", [x])).rows;

  await write(id!, [record(1), record(2)]);
  await write(id!, [record(1), record(2)]); // the same batch again (its reply was lost): nothing twice
  t.deepEqual(await workflowLogList(pool, { instanceId: id!, limit: 10 }), [
    { seq: 1, at: new Date(1_700_000_000_001), level: "info", line: 11, nodeId: "log@3:5", message: "record 1 <b>" },
    { seq: 2, at: new Date(1_700_000_000_002), level: "info", line: 12, nodeId: "log@3:5", message: "record 2 <b>" },
  ]);
  // A stale epoch's write is refused, and so are its records.
  t.is((await write(other!, [record(1)], epoch(other!) - 1)).size, 0);
  t.deepEqual(await rows(other!), []);

  // Past LOG_RECORDS_KEPT, the oldest go; each write carries at most that many.
  const many = Array.from({ length: LOG_RECORDS_KEPT }, (_, i) => record(i + 3));
  await write(id!, many);
  await write(id!, [record(LOG_RECORDS_KEPT + 3), record(LOG_RECORDS_KEPT + 4)]);
  const kept = await rows(id!);
  t.is(kept.length, LOG_RECORDS_KEPT);
  t.is(kept[0].seq, 5);
  t.is(kept.at(-1).seq, LOG_RECORDS_KEPT + 4);
  t.deepEqual(
    (await workflowLogList(pool, { instanceId: id!, limit: 3 })).map((r) => r.seq),
    [LOG_RECORDS_KEPT + 2, LOG_RECORDS_KEPT + 3, LOG_RECORDS_KEPT + 4],
  );

  // Finished long ago: the garbage collector takes the records with the instance.
  await instancesPersist(pool, { owner: "a", instances: [{ id: id!, epoch: epoch(id!), status: "completed", state: null, result: 1 }], attempts: [] });
  await pool.query("UPDATE waymark.instances SET finished_at = now() - interval '2 hours' WHERE id = $1", [id]);
  t.is(await instancesCollect(pool, { retentionHours: 1, limit: 10 }), 1);
  t.deepEqual(await rows(id!), []);
});

test("the batched write's array parameters reach Postgres exactly: quotes, backslashes, commas, braces, the word NULL, empty strings, nulls, numbers, booleans and times", async (t) => {
  const { pool } = await storeSetup(t);
  // Postgres text holds any character but NUL.
  const text = fc
    .oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom("NULL", "", " ", '"', "\\", "{", "}", ",", '{"a":"b\\"c"}'))
    .map((s) => s.replace(/\0/g, ""));
  await fc.assert(
    fc.asyncProperty(fc.array(fc.option(text)), fc.array(fc.option(fc.integer())), fc.array(fc.boolean()), async (texts, ints, bools) => {
      const { rows } = await pool.query<{ a: Array<string | null>; b: Array<number | null>; c: boolean[] }>(
        "SELECT $1::text[] AS a, $2::int[] AS b, $3::boolean[] AS c",
        [arrayParam(texts), arrayParam(ints), arrayParam(bools)],
      );
      t.deepEqual(rows[0]!.a, texts);
      t.deepEqual(rows[0]!.b, ints);
      t.deepEqual(rows[0]!.c, bools);
    }),
    { numRuns: 200 },
  );
  const at = new Date("2026-12-04T01:02:03.456Z");
  const { rows } = await pool.query<{ a: Date[] }>("SELECT $1::timestamptz[] AS a", [arrayParam([at, null])]);
  t.deepEqual(rows[0]!.a, [at, null]);
  // An invalid time is refused by Postgres as a data exception (the write narrows it down to its instance).
  const e = await t.throwsAsync(pool.query("SELECT $1::timestamptz[]", [arrayParam([new Date(Number.NaN)])]));
  t.regex(String((e as { code?: string }).code), /^22/);
});

test("a written state and result keep every character", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [a, b] = await queue(2);
  const claimed = await instanceClaim(pool, { owner: "o", limit: 2, leaseMs: 10_000 });
  const epoch = new Map(claimed.map((c) => [c.id, c.epoch]));
  const state = '{"s":"a \\"quoted\\" \\\\ back, {brace} NULL \u00e9\u{1f600}"}';
  const written = await instancesPersist(pool, {
    owner: "o",
    instances: [
      { id: a!, epoch: epoch.get(a!)!, status: "running", state },
      { id: b!, epoch: epoch.get(b!)!, status: "completed", state: null, result: { said: 'he said "hi", then \\ left {}' } },
    ],
    attempts: [],
  });
  t.deepEqual([...written.keys()].sort(), [a, b].sort());
  t.is((await instanceGetFull(pool, { id: a! }))!.state, state);
  t.deepEqual((await instanceGet(pool, { id: b! }))!.result, { said: 'he said "hi", then \\ left {}' });
});

test("an attempt's arguments, result, error and progress reach its row exactly (quotes, backslashes, braces, commas, NULL, nesting), and none or null is stored as no value", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const strange = fc.constantFrom("NULL", "", " ", '"', "\\", "{", "}", ",", '{"a":"b\\"c"}', "é😀", "a\nb");
  // What the codec hands the write: JSON values (-0 is the codec's to carry; JSON has no -0).
  const value = fc
    .oneof(fc.jsonValue(), strange, fc.array(strange), fc.dictionary(strange, fc.jsonValue()))
    .map((v) => JSON.parse(JSON.stringify(v)) as Encoded);
  const outcome = fc.record({
    args: fc.array(value),
    result: fc.option(value, { nil: undefined }),
    error: fc.option(value, { nil: undefined }),
    progress: fc.option(value, { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(outcome, { minLength: 1, maxLength: 8 }), async (outcomes) => {
      const ids = await queue(outcomes.length);
      const claimed = await instanceClaim(pool, { owner: "o", limit: outcomes.length, leaseMs: 10_000 });
      const epoch = new Map(claimed.map((c) => [c.id, c.epoch]));
      const at = new Date("2026-12-04T01:02:03.456Z");
      const written = await instancesPersist(pool, {
        owner: "o",
        instances: ids.map((id) => ({ id, epoch: epoch.get(id)!, status: "completed", state: null, result: 1 })),
        attempts: ids.map((id, n) => ({
          instanceId: id,
          actionSeq: 1,
          attempt: 1,
          nodeId: "n",
          actionName: "a",
          status: "completed",
          startedAt: at,
          finishedAt: at,
          childPid: 7,
          ...outcomes[n]!,
        })),
      });
      t.is(written.size, ids.length);
      for (const [n, id] of ids.entries()) {
        const [row] = await attemptList(pool, { instanceId: id });
        const o = outcomes[n]!;
        t.deepEqual(
          { args: row!.args, result: row!.result, error: row!.error, progress: row!.progress, childPid: row!.childPid, startedAt: row!.startedAt },
          { args: o.args, result: o.result ?? null, error: o.error ?? null, progress: o.progress ?? null, childPid: 7, startedAt: at },
        );
      }
      const { rows } = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM waymark.action_attempts WHERE instance_id = ANY ($1::uuid[]) AND (result IS NULL) <> (result::text IS NULL OR result::text = 'null')",
        [ids],
      );
      t.is(rows[0]!.n, 0);
    }),
    { numRuns: 40 },
  );
});
