/**
 * The lease on waymark.instances rows (lease_owner, lease_epoch, lease_expires_at, and the crash-loop
 * count lease_losses with isolated): a supervisor claims instances under a lease, extends it with
 * heartbeats, and the reclaimer queues again those whose supervisor died. Every write of instance
 * state is guarded by `lease_owner` and the fencing `lease_epoch` (bumped by every claim), so a
 * supervisor whose lease expired and was taken over writes nothing (see progress.ts): it learns
 * so from the returned ids.
 */
import type { Encoded } from "../core/codec.js";
import { CHANNELS, NOTIFY_QUEUED, type Queryable } from "./db.js";

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
  /** The position of the latest message sent to its mailboxes (0: none). */
  eventsSent: number;
  /** The W3C traceparent of the span that started it, if one was active. */
  traceContext: string | null;
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
       RETURNING i.id, pick.woke, i.priority, i.scheduled_at, i.workflow_name, i.version_id, i.args, i.state, i.lease_epoch, i.cancel_requested, i.lease_losses, i.isolated, i.events_sent, i.trace_context
     )
     -- An UPDATE returns rows in no particular order: hand them over in claim order.
     SELECT id::text AS id, workflow_name, version_id, args, state, lease_epoch, cancel_requested, lease_losses, isolated, events_sent, trace_context
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
    eventsSent: r.events_sent,
    traceContext: r.trace_context,
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
): Promise<{ owned: Set<string>; cancel: string[]; eventsSent: Map<string, number> }> {
  const { rows } = await db.query<{ id: string; cancel_requested: boolean; events_sent: number }>({
    name: "waymark_heartbeat",
    // Rows are locked in id order, as the batched write locks them: two statements of one
    // supervisor that lock the same rows in different orders can deadlock (the chaos soak saw it).
    text: `WITH h AS (
       SELECT id FROM waymark.instances
        WHERE id = ANY($3::uuid[]) AND lease_owner = $1 AND status = 'running'
        ORDER BY id FOR UPDATE
     )
     UPDATE waymark.instances i SET lease_expires_at = now() + $2 * interval '1 millisecond'
       FROM h WHERE i.id = h.id RETURNING i.id::text AS id, i.cancel_requested, i.events_sent`,
    values: [p.owner, p.leaseMs, p.ids],
  });
  return {
    owned: new Set(rows.map((r) => r.id)),
    cancel: rows.filter((r) => r.cancel_requested).map((r) => r.id),
    // The fallback for a missed 'event:<id>' NOTIFY: the holder compares with what it has read.
    eventsSent: new Map(rows.filter((r) => r.events_sent > 0).map((r) => [r.id, r.events_sent])),
  };
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
