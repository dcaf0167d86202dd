/**
 * waymark.schedules, keyed by (workflow name, schedule name): creating, pausing, resuming and
 * deleting them for the SDK and the web app, and the scheduler's claim of due ones. When a
 * schedule fires next is computed by its callers (sdk/cadence.ts).
 */
import type pg from "pg";
import type { Encoded } from "../core/codec.js";
import { NOTIFY_SCHEDULE, type Queryable } from "./db.js";

export interface ScheduleRow {
  id: number;
  workflowName: string;
  scheduleName: string;
  kind: "cron" | "interval";
  cron: string | null;
  intervalMs: number | null;
  timezone: string;
  jitterMs: number;
  args: Encoded;
  priority: number;
  allowDuplicate: boolean;
  status: "active" | "paused";
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  lastInstanceId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

function scheduleRow(r: Record<string, unknown>): ScheduleRow {
  return {
    id: Number(r.id),
    workflowName: r.workflow_name as string,
    scheduleName: r.schedule_name as string,
    kind: r.kind as "cron" | "interval",
    cron: r.cron as string | null,
    intervalMs: r.interval_ms === null ? null : Number(r.interval_ms),
    timezone: r.timezone as string,
    jitterMs: r.jitter_ms as number,
    args: r.args as Encoded,
    priority: r.priority as number,
    allowDuplicate: r.allow_duplicate as boolean,
    status: r.status as "active" | "paused",
    nextRunAt: r.next_run_at as Date | null,
    lastRunAt: r.last_run_at as Date | null,
    lastInstanceId: r.last_instance_id as string | null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

const columns = (t = "") =>
  [
    "id",
    "workflow_name",
    "schedule_name",
    "kind",
    "cron",
    "interval_ms",
    "timezone",
    "jitter_ms",
    "args",
    "priority",
    "allow_duplicate",
    "status",
    "next_run_at",
    "last_run_at",
    "created_at",
    "updated_at",
  ]
    .map((c) => `${t}${c}`)
    .concat(`${t}last_instance_id::text AS last_instance_id`)
    .join(", ");
const COLUMNS = columns();

/** Creates a schedule, or updates it in place (active again, next run recomputed), and wakes the schedulers. */
export async function scheduleUpsert(
  db: Queryable,
  p: Pick<ScheduleRow, "workflowName" | "scheduleName" | "kind" | "cron" | "intervalMs" | "timezone" | "jitterMs" | "args" | "priority" | "allowDuplicate"> & {
    nextRunAt: Date;
  },
): Promise<ScheduleRow> {
  const { rows } = await db.query(
    `WITH up AS (
       INSERT INTO waymark.schedules (workflow_name, schedule_name, kind, cron, interval_ms, timezone, jitter_ms, args, priority, allow_duplicate, status, next_run_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10, 'active', $11)
       ON CONFLICT (workflow_name, schedule_name) DO UPDATE SET
         kind = excluded.kind, cron = excluded.cron, interval_ms = excluded.interval_ms, timezone = excluded.timezone,
         jitter_ms = excluded.jitter_ms, args = excluded.args, priority = excluded.priority,
         allow_duplicate = excluded.allow_duplicate, status = 'active', next_run_at = excluded.next_run_at, updated_at = now()
       RETURNING *
     )
     SELECT ${COLUMNS}, ${NOTIFY_SCHEDULE} FROM up`,
    [p.workflowName, p.scheduleName, p.kind, p.cron, p.intervalMs, p.timezone, p.jitterMs, JSON.stringify(p.args), p.priority, p.allowDuplicate, p.nextRunAt],
  );
  return scheduleRow(rows[0]);
}

export async function scheduleGet(db: Queryable, p: { workflowName: string; scheduleName: string }): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM waymark.schedules WHERE workflow_name = $1 AND schedule_name = $2`, [p.workflowName, p.scheduleName]);
  return rows[0] ? scheduleRow(rows[0]) : undefined;
}

/** Pauses or resumes (with the next run computed from now by the caller). Returns false if there is no such schedule. */
export async function scheduleSetStatus(
  db: Queryable,
  p: { workflowName: string; scheduleName: string; status: "active" | "paused"; nextRunAt?: Date },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH upd AS (
       UPDATE waymark.schedules SET status = $3, next_run_at = coalesce($4, next_run_at), updated_at = now()
        WHERE workflow_name = $1 AND schedule_name = $2 RETURNING 1
     ) SELECT ${NOTIFY_SCHEDULE} FROM upd`,
    [p.workflowName, p.scheduleName, p.status, p.nextRunAt ?? null],
  );
  return (rowCount ?? 0) > 0;
}

export async function scheduleDelete(db: Queryable, p: { workflowName: string; scheduleName: string }): Promise<boolean> {
  const { rows } = await db.query(
    `WITH del AS (DELETE FROM waymark.schedules WHERE workflow_name = $1 AND schedule_name = $2 RETURNING 1)
     SELECT count(*)::int AS n, CASE WHEN count(*) > 0 THEN ${NOTIFY_SCHEDULE} END FROM del`,
    [p.workflowName, p.scheduleName],
  );
  return (rows[0]?.n ?? 0) > 0;
}

export async function scheduleList(db: Queryable, p: { status?: "active" | "paused"; workflowName?: string } = {}): Promise<ScheduleRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (p.status) where.push(`status = $${params.push(p.status)}`);
  if (p.workflowName) where.push(`workflow_name = $${params.push(p.workflowName)}`);
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM waymark.schedules ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY workflow_name, schedule_name`,
    params,
  );
  return rows.map(scheduleRow);
}

/**
 * Claims due schedules inside the caller's transaction, and returns them with the database's
 * clock (the fire time: last_run_at, and what the next run is computed from, so app and database
 * clocks never disagree about what is due).
 *
 * FOR UPDATE SKIP LOCKED: another scheduler skips rows this one holds, and once this transaction
 * advances next_run_at and commits they are no longer due. A scheduler whose snapshot predates
 * that commit still cannot take the fire: locking a row that changed since its snapshot makes
 * Postgres re-check the WHERE clause against the committed version (READ COMMITTED's
 * EvalPlanQual), and the advanced next_run_at no longer matches. So each fire is taken by exactly
 * one scheduler. No join here: the re-check is simplest on one table, and the overlap check
 * below reads the instances separately (the locked schedule row cannot fire meanwhile).
 */
export async function schedulesClaimDue(
  tx: pg.ClientBase,
  p: { limit: number },
): Promise<{ now: Date; due: Array<ScheduleRow & { lastInstanceActive: boolean }> }> {
  const { rows } = await tx.query(
    `SELECT ${COLUMNS}, now() AS db_now
       FROM waymark.schedules
      WHERE status = 'active' AND next_run_at <= now()
      ORDER BY next_run_at
      LIMIT $1
        FOR UPDATE SKIP LOCKED`,
    [p.limit],
  );
  if (!rows.length) return { now: new Date(), due: [] };
  const due = rows.map(scheduleRow);
  // Overlap suppression: is the last instance of each (non-duplicating) schedule still live?
  const watched = due.filter((r) => !r.allowDuplicate && r.lastInstanceId).map((r) => r.lastInstanceId!);
  const live = new Set<string>();
  if (watched.length) {
    const res = await tx.query<{ id: string }>(
      `SELECT id::text FROM waymark.instances WHERE id = ANY($1::uuid[]) AND status IN ('queued', 'running', 'sleeping')`,
      [watched],
    );
    for (const r of res.rows) live.add(r.id);
  }
  return { now: rows[0].db_now as Date, due: due.map((r) => ({ ...r, lastInstanceActive: r.lastInstanceId !== null && live.has(r.lastInstanceId) })) };
}

/**
 * Records a fire (or a suppressed one: no instance) and the next run, in the claiming
 * transaction (the row lock taken by schedulesClaimDue makes it safe). A null next run stops the
 * schedule until it is updated or resumed.
 */
export async function scheduleAdvance(
  tx: pg.ClientBase,
  p: { id: number; nextRunAt: Date | null; fired: { instanceId: string; at: Date } | null },
): Promise<void> {
  await tx.query(
    `UPDATE waymark.schedules SET next_run_at = $2,
            last_run_at = coalesce($4, last_run_at),
            last_instance_id = coalesce($3::uuid, last_instance_id), updated_at = now()
      WHERE id = $1`,
    [p.id, p.nextRunAt, p.fired?.instanceId ?? null, p.fired?.at ?? null],
  );
}

/**
 * Milliseconds until the earliest next run of any active schedule (negative when one is already
 * due), measured on the database's clock; undefined when nothing is scheduled.
 */
export async function scheduleNextDue(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT (extract(epoch FROM min(next_run_at) - clock_timestamp()) * 1000)::float8 AS ms FROM waymark.schedules WHERE status = 'active'`,
  );
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}
