import type { Encoded } from "../core/codec.js";
import { NOTIFY_QUEUED, type Queryable } from "./db.js";
import type { InstanceStatus } from "./instances.js";

/**
 * What the web app reads and changes: pages of instances (keyset pagination on (created_at, id),
 * exact to the microsecond), bounded counts per status, an instance with its snapshot, requeues,
 * the cheap marks the live view polls, and the worker status rows.
 */
export const STATUSES: readonly InstanceStatus[] = ["queued", "running", "sleeping", "completed", "failed", "cancelled"];

export interface InstanceFilter {
  workflow?: string;
  status?: InstanceStatus;
  createdFrom?: Date;
  createdTo?: Date;
  /** Hex digits of the id's start (dashes ignored): a range scan of the primary key. */
  idPrefix?: string;
}

/** A position in the list: created_at in microseconds since the epoch (as text), and the id. */
export interface InstanceCursor {
  us: string;
  id: string;
}

export interface InstanceSummary {
  id: string;
  workflowName: string;
  versionId: number;
  status: InstanceStatus;
  scheduleId: number | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  cursor: InstanceCursor;
}

/** The lowest and highest uuid starting with `prefix` (hex digits). */
function prefixRange(prefix: string): [string, string] {
  const hex = prefix.toLowerCase().replace(/-/g, "").slice(0, 32);
  const fmt = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return [fmt(hex.padEnd(32, "0")), fmt(hex.padEnd(32, "f"))];
}

function whereOf(f: InstanceFilter, params: unknown[], p: { withStatus: boolean }): string[] {
  const where: string[] = [];
  if (f.workflow) where.push(`workflow_name = $${params.push(f.workflow)}`);
  if (p.withStatus && f.status) where.push(`status = $${params.push(f.status)}`);
  if (f.createdFrom) where.push(`created_at >= $${params.push(f.createdFrom)}`);
  if (f.createdTo) where.push(`created_at < $${params.push(f.createdTo)}`);
  if (f.idPrefix) {
    const [lo, hi] = prefixRange(f.idPrefix);
    where.push(`id BETWEEN $${params.push(lo)}::uuid AND $${params.push(hi)}::uuid`);
  }
  return where;
}

const SUMMARY_COLUMNS = `id::text, workflow_name, version_id, status, schedule_id, created_at, started_at, finished_at,
  (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us`;

function summaryRow(r: Record<string, unknown>): InstanceSummary {
  return {
    id: r.id as string,
    workflowName: r.workflow_name as string,
    versionId: Number(r.version_id),
    status: r.status as InstanceStatus,
    scheduleId: r.schedule_id === null ? null : Number(r.schedule_id),
    createdAt: r.created_at as Date,
    startedAt: r.started_at as Date | null,
    finishedAt: r.finished_at as Date | null,
    cursor: { us: r.created_us as string, id: r.id as string },
  };
}

/**
 * One page of instances, newest first. `before` gives the next (older) page, `after` the
 * previous (newer) one; either way the scan starts at the cursor in one of the
 * (status/workflow,) created_at DESC, id DESC indexes, so page 10,000 costs what page 1 costs.
 * The cursor is in microseconds: a JS Date would lose rows that share a millisecond.
 */
export async function instancePage(
  db: Queryable,
  p: { filter: InstanceFilter; limit: number; before?: InstanceCursor; after?: InstanceCursor },
): Promise<{ rows: InstanceSummary[]; more: boolean }> {
  const params: unknown[] = [];
  const where = whereOf(p.filter, params, { withStatus: true });
  const at = (c: InstanceCursor) => `('epoch'::timestamptz + $${params.push(c.us)}::bigint * interval '1 microsecond', $${params.push(c.id)}::uuid)`;
  if (p.before) where.push(`(created_at, id) < ${at(p.before)}`);
  else if (p.after) where.push(`(created_at, id) > ${at(p.after)}`);
  const order = p.after && !p.before ? "ASC" : "DESC";
  const limit = params.push(p.limit + 1);
  const filtered = `SELECT * FROM waymark.instances ${where.length ? `WHERE ${where.join(" AND ")}` : ""}`;
  // Running and sleeping rows are few and only the claim's partial indexes hold them: take them
  // all through those (OFFSET 0 keeps the planner from walking the creation-order index instead,
  // hoping to meet them early), then sort.
  const source = p.filter.status === "running" || p.filter.status === "sleeping" ? `(${filtered} OFFSET 0) rare` : `(${filtered}) i`;
  const { rows } = await db.query(`SELECT ${SUMMARY_COLUMNS} FROM ${source} ORDER BY created_at ${order}, id ${order} LIMIT $${limit}`, params);
  const list = rows.slice(0, p.limit).map(summaryRow);
  if (order === "ASC") list.reverse();
  return { rows: list, more: rows.length > p.limit };
}

/**
 * Instances per status under the filter (its status ignored), each count stopping at `cap`:
 * at most six bounded index-only scans, whatever the table's size. A count equal to `cap`
 * means "at least".
 */
export async function instanceStatusCounts(db: Queryable, p: { filter: InstanceFilter; cap: number }): Promise<Record<InstanceStatus, number>> {
  const params: unknown[] = [];
  const where = whereOf(p.filter, params, { withStatus: false });
  const cap = params.push(p.cap);
  // Each status as a constant, so the planner can use the partial index that holds it.
  const { rows } = await db.query<{ status: InstanceStatus; n: number }>(
    STATUSES.map(
      (s) => `SELECT '${s}'::text AS status, (SELECT count(*)::int FROM (
                SELECT 1 FROM waymark.instances i WHERE i.status = '${s}' ${where.map((w) => `AND ${w}`).join(" ")} LIMIT $${cap}
              ) x) AS n`,
    ).join(" UNION ALL "),
    params,
  );
  const out = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<InstanceStatus, number>;
  for (const r of rows) out[r.status] = r.n;
  return out;
}

/** The planner's estimate of the rows per status (pg_stats and reltuples: no scan at all). */
export async function instanceStatusEstimates(db: Queryable): Promise<Partial<Record<InstanceStatus, number>>> {
  const { rows } = await db.query<{ vals: string[] | null; freqs: number[] | null; total: number }>(
    `SELECT s.most_common_vals::text::text[] AS vals, s.most_common_freqs AS freqs, greatest(c.reltuples, 0)::float8 AS total
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'waymark'
       LEFT JOIN pg_stats s ON s.schemaname = 'waymark' AND s.tablename = 'instances' AND s.attname = 'status'
      WHERE c.relname = 'instances'`,
  );
  const r = rows[0];
  const out: Partial<Record<InstanceStatus, number>> = {};
  if (!r?.vals || !r.freqs) return out;
  for (const [i, v] of r.vals.entries()) out[v as InstanceStatus] = Math.round(r.freqs[i]! * r.total);
  return out;
}

export interface InstanceFull {
  id: string;
  workflowName: string;
  versionId: number;
  status: InstanceStatus;
  priority: number;
  args: Encoded;
  result: Encoded | null;
  error: Encoded | null;
  state: string | null;
  idempotencyKey: string | null;
  leaseOwner: string | null;
  /** Deaths in a row of the supervisor running it (crash-loop quarantine at WAYMARK_CRASH_LOOP_LIMIT). */
  leaseLosses: number;
  cancelRequested: boolean;
  scheduleId: number | null;
  scheduledAt: Date;
  createdAt: Date;
  startedAt: Date | null;
  updatedAt: Date;
  finishedAt: Date | null;
}

/** An instance with its snapshot (the live view decodes it to show the calls in flight). */
export async function instanceGetFull(db: Queryable, p: { id: string }): Promise<InstanceFull | undefined> {
  const { rows } = await db.query(
    `SELECT id::text, workflow_name, version_id, status, priority, args, result, error, state, idempotency_key, lease_owner,
            lease_losses, cancel_requested, schedule_id, scheduled_at, created_at, started_at, updated_at, finished_at
       FROM waymark.instances WHERE id = $1`,
    [p.id],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    id: r.id,
    workflowName: r.workflow_name,
    versionId: Number(r.version_id),
    status: r.status,
    priority: r.priority,
    args: r.args,
    result: r.result,
    error: r.error,
    state: r.state,
    idempotencyKey: r.idempotency_key,
    leaseOwner: r.lease_owner,
    leaseLosses: r.lease_losses,
    cancelRequested: r.cancel_requested,
    scheduleId: r.schedule_id === null ? null : Number(r.schedule_id),
    scheduledAt: r.scheduled_at,
    createdAt: r.created_at,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

/**
 * Queues a new instance of a failed or cancelled one's version with its arguments (and
 * priority), and wakes the pollers, in one statement. Returns the status the source had and
 * the new id (undefined when the source is missing or not failed/cancelled).
 */
export async function instanceRequeue(db: Queryable, p: { id: string; newId: string }): Promise<{ before?: InstanceStatus; id?: string }> {
  const { rows } = await db.query<{ before: InstanceStatus; id: string | null }>(
    `WITH src AS (SELECT workflow_name, version_id, priority, args, status FROM waymark.instances WHERE id = $1),
     ins AS (
       INSERT INTO waymark.instances (id, workflow_name, version_id, status, priority, args)
       SELECT $2, workflow_name, version_id, 'queued', priority, args FROM src WHERE status IN ('failed', 'cancelled')
       RETURNING id
     )
     SELECT src.status AS before, ins.id::text AS id, CASE WHEN ins.id IS NOT NULL THEN ${NOTIFY_QUEUED} END
       FROM src LEFT JOIN ins ON true`,
    [p.id, p.newId],
  );
  const r = rows[0];
  return r ? { before: r.before, id: r.id ?? undefined } : {};
}

/**
 * What the live view polls for every instance someone watches, in one statement: a change of
 * status, of updated_at (every state write) or of the number of recorded attempts means news.
 */
export async function instanceLiveMarks(db: Queryable, p: { ids: string[] }): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; mark: string }>(
    `SELECT i.id::text,
            i.status || ':' || (extract(epoch FROM i.updated_at) * 1000000)::bigint || ':' ||
            (SELECT count(*) FROM waymark.action_attempts a WHERE a.instance_id = i.id) AS mark
       FROM waymark.instances i WHERE i.id = ANY($1::uuid[])`,
    [p.ids],
  );
  return new Map(rows.map((r) => [r.id, r.mark]));
}

/** The workflow names that have a registered version (a small table: the filter's choices). */
export async function versionWorkflowNames(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`SELECT DISTINCT workflow_name AS name FROM waymark.workflow_versions ORDER BY 1`);
  return rows.map((r) => r.name);
}

export interface WorkerStatus {
  owner: string;
  hostname: string;
  pid: number;
  startedAt: Date;
  updatedAt: Date;
  stats: Record<string, unknown>;
}

/** Every supervisor's published status row, the most recently refreshed first. */
export async function workerStatusRead(db: Queryable): Promise<WorkerStatus[]> {
  const { rows } = await db.query(`SELECT owner, hostname, pid, started_at, updated_at, stats FROM waymark.worker_status ORDER BY updated_at DESC, owner`);
  return rows.map((r) => ({ owner: r.owner, hostname: r.hostname, pid: r.pid, startedAt: r.started_at, updatedAt: r.updated_at, stats: r.stats ?? {} }));
}

/** True when the database answers (for /healthz). */
export async function databasePing(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ ok: number }>(`SELECT 1 AS ok`);
  return rows[0]?.ok === 1;
}
