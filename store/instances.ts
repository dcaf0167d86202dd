import type { Encoded } from "../core/codec.js";
import { CHANNELS, NOTIFY_QUEUED, notifyCancel, type Queryable } from "./db.js";

/**
 * Instances as the SDK and the CLI see them: queueing, reading results, listing, cancelling.
 * The supervisor's side (claims, leases, batched state writes) is in store/engine.ts.
 */
export type InstanceStatus = "queued" | "running" | "sleeping" | "completed" | "failed" | "cancelled";

export const FINISHED: readonly InstanceStatus[] = ["completed", "failed", "cancelled"];

export interface InstanceNew {
  id: string;
  workflowName: string;
  versionId: number;
  args: Encoded;
  priority?: number;
  delayMs?: number;
  idempotencyKey?: string | null;
  scheduleId?: number | null;
}

/**
 * Queues one instance and wakes the pollers, in one statement (so inside the caller's
 * transaction the NOTIFY is delivered only if it commits). With an idempotency key that is
 * already taken, returns the existing instance instead.
 */
export async function instanceInsert(db: Queryable, p: InstanceNew): Promise<{ id: string; inserted: boolean }> {
  const params = [p.id, p.workflowName, p.versionId, p.priority ?? 0, JSON.stringify(p.args), p.idempotencyKey ?? null, p.delayMs ?? 0, p.scheduleId ?? null];
  const sql = `
    WITH ins AS (
      INSERT INTO waymark.instances (id, workflow_name, version_id, status, priority, args, idempotency_key, scheduled_at, schedule_id)
      VALUES ($1, $2, $3, 'queued', $4, $5::json, $6, now() + $7 * interval '1 millisecond', $8)
      ON CONFLICT DO NOTHING
      RETURNING id
    )
    SELECT id::text, true AS inserted, ${NOTIFY_QUEUED} FROM ins
    UNION ALL
    SELECT id::text, false, NULL FROM waymark.instances
     WHERE NOT EXISTS (SELECT 1 FROM ins) AND (id = $1 OR ($6::text IS NOT NULL AND workflow_name = $2 AND idempotency_key = $6))`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const { rows } = await db.query<{ id: string; inserted: boolean }>({ name: "waymark_insert", text: sql, values: params });
    // A concurrent insert of the same key that committed after this statement's snapshot is
    // invisible to it: ask again with a new snapshot.
    if (rows[0]) return { id: rows[0].id, inserted: rows[0].inserted };
  }
  throw new Error(`could not insert or find the instance with idempotency key ${p.idempotencyKey}`);
}

/** Queues many instances of one version in one statement per call (callers chunk by ~1000). */
export async function instanceInsertMany(
  db: Queryable,
  p: { workflowName: string; versionId: number; ids: string[]; args: Encoded[]; priority?: number; delayMs?: number },
): Promise<number> {
  const { rowCount } = await db.query(
    `WITH ins AS (
       INSERT INTO waymark.instances (id, workflow_name, version_id, status, priority, args, scheduled_at)
       SELECT id, $2, $3, 'queued', $4, args, now() + $6 * interval '1 millisecond' FROM unnest($1::uuid[], $5::json[]) AS t(id, args)
       ON CONFLICT (id) DO NOTHING
       RETURNING 1
     )
     SELECT ${NOTIFY_QUEUED} FROM ins`,
    [p.ids, p.workflowName, p.versionId, p.priority ?? 0, p.args.map((a) => JSON.stringify(a)), p.delayMs ?? 0],
  );
  void rowCount;
  return p.ids.length;
}

export interface InstanceOutcome {
  id: string;
  workflowName: string;
  status: InstanceStatus;
  result: Encoded | null;
  error: Encoded | null;
}

export async function instanceOutcomes(db: Queryable, p: { ids: string[]; finishedOnly?: boolean }): Promise<InstanceOutcome[]> {
  const { rows } = await db.query<{ id: string; workflow_name: string; status: InstanceStatus; result: Encoded | null; error: Encoded | null }>({
    name: p.finishedOnly ? "waymark_outcomes_finished" : "waymark_outcomes",
    text: `SELECT id::text, workflow_name, status, result, error FROM waymark.instances
      WHERE id = ANY($1::uuid[]) ${p.finishedOnly ? "AND status IN ('completed', 'failed', 'cancelled')" : ""}`,
    values: [p.ids],
  });
  return rows.map((r) => ({ id: r.id, workflowName: r.workflow_name, status: r.status, result: r.result, error: r.error }));
}

export interface InstanceRow {
  id: string;
  workflowName: string;
  versionId: number;
  status: InstanceStatus;
  priority: number;
  args: Encoded;
  result: Encoded | null;
  error: Encoded | null;
  idempotencyKey: string | null;
  leaseOwner: string | null;
  /** Deaths in a row of the supervisor running it (crash-loop quarantine at WAYMARK_CRASH_LOOP_LIMIT). */
  leaseLosses: number;
  scheduledAt: Date;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

const INSTANCE_COLUMNS = `id::text, workflow_name, version_id, status, priority, args, result, error, idempotency_key,
  lease_owner, lease_losses, scheduled_at, created_at, started_at, finished_at`;

function instanceRow(r: Record<string, unknown>): InstanceRow {
  return {
    id: r.id as string,
    workflowName: r.workflow_name as string,
    versionId: Number(r.version_id),
    status: r.status as InstanceStatus,
    priority: r.priority as number,
    args: r.args as Encoded,
    result: r.result as Encoded | null,
    error: r.error as Encoded | null,
    idempotencyKey: r.idempotency_key as string | null,
    leaseOwner: r.lease_owner as string | null,
    leaseLosses: r.lease_losses as number,
    scheduledAt: r.scheduled_at as Date,
    createdAt: r.created_at as Date,
    startedAt: r.started_at as Date | null,
    finishedAt: r.finished_at as Date | null,
  };
}

export async function instanceGet(db: Queryable, p: { id: string }): Promise<InstanceRow | undefined> {
  const { rows } = await db.query(`SELECT ${INSTANCE_COLUMNS} FROM waymark.instances WHERE id = $1`, [p.id]);
  return rows[0] ? instanceRow(rows[0]) : undefined;
}

/** Newest first; `before` pages by (created_at, id) so deep pages stay fast. */
export async function instanceList(
  db: Queryable,
  p: { status?: InstanceStatus; workflow?: string; limit?: number; before?: { createdAt: Date; id: string } },
): Promise<InstanceRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (p.status) where.push(`status = $${params.push(p.status)}`);
  if (p.workflow) where.push(`workflow_name = $${params.push(p.workflow)}`);
  if (p.before) where.push(`(created_at, id) < ($${params.push(p.before.createdAt)}, $${params.push(p.before.id)}::uuid)`);
  const limit = params.push(p.limit ?? 50);
  const { rows } = await db.query(
    `SELECT ${INSTANCE_COLUMNS} FROM waymark.instances ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY created_at DESC, id DESC LIMIT $${limit}`,
    params,
  );
  return rows.map(instanceRow);
}

export interface AttemptRow {
  actionSeq: number;
  attempt: number;
  nodeId: string;
  actionName: string;
  status: string;
  args: Encoded | null;
  result: Encoded | null;
  error: Encoded | null;
  childPid: number | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export async function attemptList(db: Queryable, p: { instanceId: string }): Promise<AttemptRow[]> {
  const { rows } = await db.query(
    `SELECT action_seq, attempt, node_id, action_name, status, args, result, error, child_pid, started_at, finished_at
       FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY action_seq, attempt`,
    [p.instanceId],
  );
  return rows.map((r) => ({
    actionSeq: r.action_seq,
    attempt: r.attempt,
    nodeId: r.node_id,
    actionName: r.action_name,
    status: r.status,
    args: r.args,
    result: r.result,
    error: r.error,
    childPid: r.child_pid,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }));
}

/**
 * Cancels an instance. A queued or sleeping one (no supervisor holds it) is cancelled here and
 * now; a running one is flagged, and its supervisor (woken by NOTIFY, or at its next heartbeat)
 * aborts its in-flight actions and ends it `cancelled`. Returns the status it had.
 */
export async function instanceCancel(db: Queryable, p: { id: string; error: Encoded }): Promise<InstanceStatus | undefined> {
  const { rows } = await db.query<{ before: InstanceStatus }>(
    `WITH x AS (SELECT id, status FROM waymark.instances WHERE id = $1 FOR UPDATE),
     upd AS (
       UPDATE waymark.instances i
          SET status = CASE WHEN x.status IN ('queued', 'sleeping') THEN 'cancelled' ELSE i.status END,
              finished_at = CASE WHEN x.status IN ('queued', 'sleeping') THEN now() ELSE i.finished_at END,
              error = CASE WHEN x.status IN ('queued', 'sleeping') THEN $2::json ELSE i.error END,
              state = CASE WHEN x.status IN ('queued', 'sleeping') THEN NULL ELSE i.state END,
              cancel_requested = (x.status = 'running') OR i.cancel_requested,
              updated_at = now()
         FROM x WHERE i.id = x.id
        RETURNING x.status AS before
     )
     SELECT before,
            CASE WHEN before IN ('queued', 'sleeping') THEN pg_notify('${CHANNELS.done}', $1::text)
                 WHEN before = 'running' THEN ${notifyCancel("$1::text")} END
       FROM upd`,
    [p.id, JSON.stringify(p.error)],
  );
  return rows[0]?.before;
}
