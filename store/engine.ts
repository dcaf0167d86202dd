import type { Encoded } from "../core/codec.js";
import { CHANNELS, NOTIFY_QUEUED, type Queryable } from "./db.js";
import type { InstanceStatus } from "./instances.js";

/**
 * The supervisor's side of the instances table: claims under a lease, heartbeats, the
 * reclaimer, and the batched state writes. Every write of instance state is guarded by
 * `lease_owner` and the fencing `lease_epoch` (bumped by every claim), so a supervisor whose
 * lease expired and was taken over writes nothing: it learns so from the returned ids.
 */

export interface ClaimedInstance {
  id: string;
  workflowName: string;
  versionId: number;
  args: Encoded;
  state: string | null;
  epoch: number;
  cancelRequested: boolean;
  /** Times in a row its supervisor died while holding it. */
  leaseLosses: number;
  /** One more death would fail it: it runs alone among the isolated (see `instanceClaim`). */
  isolated: boolean;
}

/**
 * Claims up to `limit` runnable instances: sleepers whose wake time has come first (they are
 * already under way), then queued ones by priority and age. `SKIP LOCKED` lets supervisors claim
 * concurrently without waiting on each other's rows; each branch is its own CTE because
 * `FOR UPDATE` is not allowed with UNION, and the partial indexes keep both walks to runnable
 * rows only. Isolated instances (one more death of their supervisor would fail them) are taken
 * only `isolated` at a time (0 or 1): one that kills its supervisor again takes the blame alone.
 */
export async function instanceClaim(db: Queryable, p: { owner: string; limit: number; leaseMs: number; isolated?: number }): Promise<ClaimedInstance[]> {
  // Named: prepared once per connection, so the hot statements are not planned on every call.
  const { rows } = await db.query({
    name: "waymark_claim",
    text: `WITH s AS (
       SELECT id FROM waymark.instances
        WHERE status = 'sleeping' AND scheduled_at <= now()
        ORDER BY scheduled_at LIMIT $2 FOR UPDATE SKIP LOCKED
     ), x AS (
       SELECT id FROM waymark.instances
        WHERE status = 'queued' AND isolated AND scheduled_at <= now()
        ORDER BY priority DESC, scheduled_at, id
        LIMIT $4 FOR UPDATE SKIP LOCKED
     ), q AS (
       SELECT id FROM waymark.instances
        WHERE status = 'queued' AND NOT isolated AND scheduled_at <= now()
        ORDER BY priority DESC, scheduled_at, id
        LIMIT $2 FOR UPDATE SKIP LOCKED
     ), pick AS (
       -- Sleepers first, then a suspect, then the queue, $2 in all. The branches' LIMITs are plain
       -- parameters, so the planner knows how few rows come and finds them by primary key below;
       -- a row a branch locked beyond the total stays queued (its lock ends with the statement).
       (SELECT id, 0 AS woke FROM s UNION ALL SELECT id, 1 FROM x UNION ALL SELECT id, 2 FROM q) LIMIT $2
     ), claimed AS (
       UPDATE waymark.instances i
          SET status = 'running', lease_owner = $1, lease_epoch = i.lease_epoch + 1,
              lease_expires_at = now() + $3 * interval '1 millisecond',
              started_at = coalesce(i.started_at, now()), updated_at = now()
         FROM pick
        WHERE i.id = pick.id
       RETURNING i.id, pick.woke, i.priority, i.scheduled_at, i.workflow_name, i.version_id, i.args, i.state, i.lease_epoch, i.cancel_requested, i.lease_losses, i.isolated
     )
     -- An UPDATE returns rows in no particular order: hand them over in claim order.
     SELECT id::text AS id, workflow_name, version_id, args, state, lease_epoch, cancel_requested, lease_losses, isolated
       FROM claimed ORDER BY least(woke, 1), priority DESC, scheduled_at, id`,
    values: [p.owner, p.limit, p.leaseMs, p.isolated ?? 1],
  });
  return rows.map((r) => ({
    id: r.id,
    workflowName: r.workflow_name,
    versionId: Number(r.version_id),
    args: r.args,
    state: r.state,
    epoch: r.lease_epoch,
    cancelRequested: r.cancel_requested,
    leaseLosses: r.lease_losses,
    isolated: r.isolated,
  }));
}

/**
 * Extends the leases of the instances this supervisor holds in memory (`ids`: a row it owns but
 * no longer holds, dropped after an error, is left to expire and be reclaimed); returns the ids
 * it still owns, and those with a cancellation request (the fallback when the NOTIFY was missed).
 */
export async function instanceHeartbeat(
  db: Queryable,
  p: { owner: string; leaseMs: number; ids: string[] },
): Promise<{ owned: Set<string>; cancel: string[] }> {
  const { rows } = await db.query<{ id: string; cancel_requested: boolean }>({
    name: "waymark_heartbeat",
    // Rows are locked in id order, as the batched write locks them: two statements of one
    // supervisor that lock the same rows in different orders can deadlock (the chaos soak saw it).
    text: `WITH h AS (
       SELECT id FROM waymark.instances
        WHERE id = ANY($3::uuid[]) AND lease_owner = $1 AND status = 'running'
        ORDER BY id FOR UPDATE
     )
     UPDATE waymark.instances i SET lease_expires_at = now() + $2 * interval '1 millisecond'
       FROM h WHERE i.id = h.id RETURNING i.id::text AS id, i.cancel_requested`,
    values: [p.owner, p.leaseMs, p.ids],
  });
  return { owned: new Set(rows.map((r) => r.id)), cancel: rows.filter((r) => r.cancel_requested).map((r) => r.id) };
}

/**
 * Puts instances whose lease expired (their supervisor died) back in the queue, from their last
 * persisted state, and wakes the pollers. Batched and SKIP LOCKED so several reclaimers coexist.
 * Each counts a loss in a row (`lease_losses`, set back to 0 by any progress its holder writes);
 * at `crashLoopLimit` (0: never) the instance fails instead, with an error that says why, so an
 * instance that kills its supervisor cannot take down one supervisor after another; one death
 * before that, it is isolated (run alone, so that the last death is blamed on it alone).
 */
export async function instanceReclaimExpired(db: Queryable, p: { limit: number; crashLoopLimit?: number }): Promise<{ requeued: number; failed: string[] }> {
  const { rows } = await db.query<{ requeued: number; failed: string[] }>(
    `WITH x AS (
       SELECT id, $2 > 0 AND lease_losses + 1 >= $2 AS quarantine, $2 > 0 AND lease_losses + 2 >= $2 AS isolate FROM waymark.instances
        WHERE status = 'running' AND lease_expires_at < now()
        ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
     ), upd AS (
       UPDATE waymark.instances i
          SET status = CASE WHEN x.quarantine THEN 'failed' ELSE 'queued' END,
              lease_losses = i.lease_losses + 1,
              isolated = x.isolate AND NOT x.quarantine,
              state = CASE WHEN x.quarantine THEN NULL ELSE i.state END,
              error = CASE WHEN x.quarantine THEN json_build_object('$w', 'err', 'name', 'CrashLoopError', 'message',
                        format('its supervisor died %s times in a row while running it (the limit, WAYMARK_CRASH_LOOP_LIMIT): waymark stopped retrying it so that it cannot take down another one. Look at what it does between two awaits (a large allocation, a long computation, a crash in native code)', i.lease_losses + 1))
                      ELSE i.error END,
              finished_at = CASE WHEN x.quarantine THEN now() END,
              lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
         FROM x
        WHERE i.id = x.id
       RETURNING i.id, i.status
     ), counts AS (
       SELECT count(*) FILTER (WHERE status = 'queued')::int AS requeued,
              coalesce(array_agg(id::text) FILTER (WHERE status = 'failed'), '{}') AS failed FROM upd
     )
     SELECT requeued, failed,
            CASE WHEN requeued > 0 THEN ${NOTIFY_QUEUED} END,
            (SELECT count(pg_notify('${CHANNELS.done}', f)) FROM unnest(failed) f) AS notified
       FROM counts`,
    [p.limit, p.crashLoopLimit ?? 0],
  );
  return { requeued: rows[0]?.requeued ?? 0, failed: rows[0]?.failed ?? [] };
}

export interface InstanceWrite {
  id: string;
  epoch: number;
  status: InstanceStatus;
  /** The new snapshot; undefined keeps the stored one. */
  state?: string | null;
  result?: Encoded;
  error?: Encoded;
  /** Wake time of a sleeping instance, or the requeue time of a released one. */
  scheduledAt?: Date;
  /** For a sleeping or released instance: its error if a cancellation turns out to be pending. */
  cancelError?: Encoded;
}

export interface AttemptWrite {
  instanceId: string;
  actionSeq: number;
  attempt: number;
  nodeId: string;
  actionName: string;
  status: "running" | "completed" | "failed" | "timed_out" | "cancelled";
  args?: Encoded;
  result?: Encoded;
  error?: Encoded;
  childPid?: number | null;
  startedAt: Date;
  finishedAt?: Date | null;
}

const json = (v: Encoded | undefined) => (v === undefined ? null : JSON.stringify(v));

/**
 * One statement for a whole batch: instance states (guarded by the lease), their action
 * attempts (written only for instances whose guard held), and NOTIFYs for finished instances
 * (chunked to stay under the payload limit) and released ones. Returns the ids whose write
 * held; an instance missing from the result has lost its lease and must be dropped.
 */
export async function instancesPersist(db: Queryable, p: { owner: string; instances: InstanceWrite[]; attempts: AttemptWrite[] }): Promise<Set<string>> {
  // In id order, the order the heartbeat locks rows in: no deadlock between the two.
  const I = [...p.instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const A = p.attempts;
  // The NOTIFYs, worked out here: finished instances for their callers (ids in chunks under the
  // payload limit), released ones for the pollers. Sent at commit; one for an instance whose
  // lease guard fails is harmless (a caller looks, finds it unfinished, and goes on waiting).
  const notes: Array<[string, string]> = [];
  const finished = I.filter((x) => x.status === "completed" || x.status === "failed" || x.status === "cancelled").map((x) => x.id);
  for (let i = 0; i < finished.length; i += 200) notes.push([CHANNELS.done, finished.slice(i, i + 200).join(",")]);
  if (I.some((x) => x.status === "queued")) notes.push([CHANNELS.work, "queued"]);
  const withAttempts = new Set(A.map((a) => a.instanceId));
  const { rows } = await db.query<{ ids: string[] }>({
    name: "waymark_persist",
    // MATERIALIZED, with the owner and the expected status as columns of w: the planner must
    // not see constants it could match to a partial index (it would walk every running row of
    // the table for each written one); the only way in is the primary key.
    text: `WITH w AS MATERIALIZED (
       SELECT u.*, $1::text AS owner, 'running'::text AS expect
         FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::boolean[], $7::json[], $8::json[], $9::timestamptz[], $13::json[], $14::boolean[])
           AS u(id, epoch, status, state, keep_state, result, error, scheduled_at, cancel_error, progress)
     ), upd AS (
       UPDATE waymark.instances i
          -- A cancellation requested while this write was on its way (the supervisor saw it too
          -- late to act on it) wins over going to sleep or back to the queue: without this the
          -- instance would sleep on, cancel_requested set, until its timer woke it.
          SET status = CASE WHEN i.cancel_requested AND w.status IN ('sleeping', 'queued') THEN 'cancelled' ELSE w.status END,
              state = CASE WHEN i.cancel_requested AND w.status IN ('sleeping', 'queued') THEN NULL
                           WHEN w.keep_state THEN i.state ELSE w.state END,
              result = w.result,
              error = CASE WHEN i.cancel_requested AND w.status IN ('sleeping', 'queued') THEN w.cancel_error ELSE w.error END,
              scheduled_at = coalesce(w.scheduled_at, i.scheduled_at),
              lease_owner = CASE WHEN w.status = 'running' THEN i.lease_owner END,
              lease_expires_at = CASE WHEN w.status = 'running' THEN i.lease_expires_at END,
              -- Progress written (a new state or recorded attempts) clears the deaths in a row.
              lease_losses = CASE WHEN w.progress OR w.status <> 'running' THEN 0 ELSE i.lease_losses END,
              isolated = i.isolated AND NOT (w.progress OR w.status <> 'running'),
              finished_at = CASE WHEN w.status IN ('completed', 'failed', 'cancelled')
                                   OR (i.cancel_requested AND w.status IN ('sleeping', 'queued')) THEN now() END,
              updated_at = now()
         FROM w
        -- The lease guard: only the current holder of this claim (owner and epoch) may write.
        WHERE i.id = w.id AND i.lease_owner = w.owner AND i.lease_epoch = w.epoch AND i.status = w.expect
       RETURNING i.id, i.status, w.status AS wanted
     ), att AS (
       -- The attempts travel as one JSON array (one JSON.stringify, instead of twelve arrays the
       -- driver escapes element by element); times are epoch milliseconds.
       INSERT INTO waymark.action_attempts AS a
         (instance_id, action_seq, attempt, node_id, action_name, status, args, result, error, child_pid, started_at, finished_at)
       SELECT t.i, t.s, t.a, t.n, t.an, t.st, t.args, t.r, t.e, t.p, to_timestamp(t.t0 / 1000.0), to_timestamp(t.t1 / 1000.0)
         FROM json_to_recordset($10::json)
           AS t(i uuid, s int, a int, n text, an text, st text, args json, r json, e json, p int, t0 float8, t1 float8)
        WHERE t.i IN (SELECT id FROM upd)
       ON CONFLICT (instance_id, action_seq, attempt) DO UPDATE
         SET status = excluded.status, result = excluded.result, error = excluded.error,
             child_pid = coalesce(excluded.child_pid, a.child_pid), finished_at = excluded.finished_at
     ), note AS (
       SELECT count(pg_notify(x.channel, x.payload)) AS n FROM unnest($11::text[], $12::text[]) AS x(channel, payload)
     ), late AS (
       SELECT count(pg_notify('${CHANNELS.done}', upd.id::text)) AS n FROM upd WHERE upd.status = 'cancelled' AND upd.wanted <> 'cancelled'
     )
     SELECT coalesce(array_agg(upd.id::text), '{}') AS ids, (SELECT n FROM note) AS notified, (SELECT n FROM late) AS cancelled FROM upd`,
    values: [
      p.owner,
      I.map((x) => x.id),
      I.map((x) => x.epoch),
      I.map((x) => x.status),
      I.map((x) => (x.state === undefined ? null : x.state)),
      I.map((x) => x.state === undefined),
      I.map((x) => json(x.result)),
      I.map((x) => json(x.error)),
      I.map((x) => x.scheduledAt ?? null),
      JSON.stringify(
        A.map((x) => ({
          i: x.instanceId,
          s: x.actionSeq,
          a: x.attempt,
          n: x.nodeId,
          an: x.actionName,
          st: x.status,
          args: x.args ?? null,
          r: x.result ?? null,
          e: x.error ?? null,
          p: x.childPid ?? null,
          t0: x.startedAt.getTime(),
          t1: x.finishedAt ? x.finishedAt.getTime() : null,
        })),
      ),
      notes.map((n) => n[0]),
      notes.map((n) => n[1]),
      I.map((x) => json(x.cancelError)),
      I.map((x) => x.state !== undefined || withAttempts.has(x.id)),
    ],
  });
  return new Set(rows[0]?.ids ?? []);
}

export interface AttemptOutcome {
  instanceId: string;
  actionSeq: number;
  attempt: number;
  status: "completed" | "failed" | "timed_out" | "cancelled";
  result: Encoded | null;
  error: Encoded | null;
}

/**
 * The recorded outcomes of these attempts. A resumed instance applies them to the calls its
 * snapshot shows in flight: results written after the last snapshot are not lost or re-run.
 */
export async function attemptOutcomes(
  db: Queryable,
  p: { keys: Array<{ instanceId: string; actionSeq: number; attempt: number }> },
): Promise<AttemptOutcome[]> {
  if (!p.keys.length) return [];
  const { rows } = await db.query(
    `SELECT a.instance_id::text AS instance_id, a.action_seq, a.attempt, a.status, a.result, a.error
       FROM unnest($1::uuid[], $2::int[], $3::int[]) AS k(instance_id, action_seq, attempt)
       JOIN waymark.action_attempts a USING (instance_id, action_seq, attempt)
      WHERE a.status <> 'running'`,
    [p.keys.map((k) => k.instanceId), p.keys.map((k) => k.actionSeq), p.keys.map((k) => k.attempt)],
  );
  return rows.map((r) => ({ instanceId: r.instance_id, actionSeq: r.action_seq, attempt: r.attempt, status: r.status, result: r.result, error: r.error }));
}

/** Publishes this supervisor's status row (one per owner). */
export async function workerStatusUpsert(db: Queryable, p: { owner: string; hostname: string; pid: number; startedAt: Date; stats: unknown }): Promise<void> {
  await db.query(
    `INSERT INTO waymark.worker_status (owner, hostname, pid, started_at, updated_at, stats)
     VALUES ($1, $2, $3, $4, now(), $5::json)
     ON CONFLICT (owner) DO UPDATE SET updated_at = now(), stats = excluded.stats`,
    [p.owner, p.hostname, p.pid, p.startedAt, JSON.stringify(p.stats)],
  );
}

export async function workerStatusDelete(db: Queryable, p: { owner: string }): Promise<void> {
  await db.query(`DELETE FROM waymark.worker_status WHERE owner = $1`, [p.owner]);
}

export interface WorkerStatusRow {
  owner: string;
  hostname: string;
  pid: number;
  startedAt: Date;
  updatedAt: Date;
  stats: Record<string, unknown>;
}

export async function workerStatusList(db: Queryable): Promise<WorkerStatusRow[]> {
  const { rows } = await db.query(`SELECT owner, hostname, pid, started_at, updated_at, stats FROM waymark.worker_status ORDER BY started_at`);
  return rows.map((r) => ({ owner: r.owner, hostname: r.hostname, pid: r.pid, startedAt: r.started_at, updatedAt: r.updated_at, stats: r.stats }));
}

/** Drops status rows not refreshed for `staleMs` (supervisors that died without cleaning up). */
export async function workerStatusPrune(db: Queryable, p: { staleMs: number }): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM waymark.worker_status WHERE updated_at < now() - $1 * interval '1 millisecond'`, [p.staleMs]);
  return rowCount ?? 0;
}

// Any constant shared by every waymark process: one garbage collector at a time.
const GC_LOCK = 0x7761796e; // "wayn"

/**
 * Deletes up to `limit` instances that finished more than `retentionHours` ago (their attempts
 * go with them), if no other supervisor is collecting right now (a transaction-scoped advisory
 * lock). Returns how many it deleted, or -1 if another collector holds the lock.
 */
export async function instancesCollect(db: Queryable, p: { retentionHours: number; limit: number }): Promise<number> {
  const { rows } = await db.query<{ n: number | null }>(
    `WITH lock AS (SELECT pg_try_advisory_xact_lock($3) AS got),
     doomed AS (
       SELECT id FROM waymark.instances
        WHERE finished_at IS NOT NULL AND finished_at < now() - $1 * interval '1 hour' AND (SELECT got FROM lock)
        ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
     ), attempts AS (
       DELETE FROM waymark.action_attempts a USING doomed WHERE a.instance_id = doomed.id
     ), del AS (
       DELETE FROM waymark.instances i USING doomed WHERE i.id = doomed.id RETURNING 1
     )
     SELECT CASE WHEN (SELECT got FROM lock) THEN (SELECT count(*)::int FROM del) END AS n`,
    [p.retentionHours, p.limit, GC_LOCK],
  );
  return rows[0]?.n ?? -1;
}
