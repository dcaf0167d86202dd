/**
 * waymark.instances, one row per workflow run. This module owns the row: its types (the full row,
 * the SDK's and the CLI's view without the snapshot, the list's summary, a caller's outcome),
 * column lists and mappers; and the statements on instances as the SDK, the CLI and the web app
 * see them: queueing, reading, listing, cancelling, requeueing, the live view's marks, and the
 * retention collector. The web app's pages of the list are in instance-pages.ts; the
 * supervisor's side is in leases.ts (claims, heartbeats, reclaims) and progress.ts (its batched
 * state writes).
 */
import type { Encoded } from "../core/codec.js";
import { NOTIFY_QUEUED, notifyQueuedAt, type Queryable } from "./db.js";
import { isManifest, stateAssemble } from "./state.js";

export type InstanceStatus = "queued" | "running" | "sleeping" | "completed" | "failed" | "cancelled";

export const STATUSES: readonly InstanceStatus[] = ["queued", "running", "sleeping", "completed", "failed", "cancelled"];

export const FINISHED: readonly InstanceStatus[] = ["completed", "failed", "cancelled"];

/** An instance as stored: every column the views read. */
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
  /** The workflow that started this one as a child, if any. */
  parentId: string | null;
  /** A child its parent does not wait for (`start()` inside a workflow). */
  detached: boolean;
  /** When a queued instance may start or a sleeping one wakes; null: asleep until a message (or a child's end) wakes it. */
  scheduledAt: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  updatedAt: Date;
  finishedAt: Date | null;
}

/**
 * An instance without its snapshot (possibly large: left out of status polls and lists) and the
 * bookkeeping: what the SDK and the CLI read.
 */
export type InstanceRow = Omit<InstanceFull, "state" | "cancelRequested" | "scheduleId" | "updatedAt">;

/** A position in the list: created_at in microseconds since the epoch (as text), and the id. */
export interface InstanceCursor {
  us: string;
  id: string;
}

/** An instance as the web app's list shows it, with its place in the list. */
export type InstanceSummary = Pick<InstanceFull, "id" | "workflowName" | "versionId" | "status" | "scheduleId" | "createdAt" | "startedAt" | "finishedAt"> & {
  cursor: InstanceCursor;
};

/** What a caller waiting on an instance learns. */
export type InstanceOutcome = Pick<InstanceFull, "id" | "workflowName" | "status" | "result" | "error">;

/** The columns of an InstanceRow. */
const ROW_COLUMNS = `id::text, workflow_name, version_id, status, priority, args, result, error, idempotency_key,
  lease_owner, lease_losses, parent_id::text, detached, scheduled_at, created_at, started_at, finished_at`;
/** The columns of an InstanceFull: the row's, the snapshot and the bookkeeping. */
const FULL_COLUMNS = `${ROW_COLUMNS}, state, cancel_requested, schedule_id, updated_at`;

/** The columns of an InstanceSummary; created_at also in microseconds, for its cursor. */
export const SUMMARY_COLUMNS = `id::text, workflow_name, version_id, status, schedule_id, created_at, started_at, finished_at,
  (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us`;

function instanceFull(r: Record<string, unknown>): InstanceFull {
  return {
    id: r.id as string,
    workflowName: r.workflow_name as string,
    versionId: Number(r.version_id),
    status: r.status as InstanceStatus,
    priority: r.priority as number,
    args: r.args as Encoded,
    result: r.result as Encoded | null,
    error: r.error as Encoded | null,
    state: r.state as string | null,
    idempotencyKey: r.idempotency_key as string | null,
    leaseOwner: r.lease_owner as string | null,
    leaseLosses: r.lease_losses as number,
    cancelRequested: r.cancel_requested as boolean,
    scheduleId: r.schedule_id === null || r.schedule_id === undefined ? null : Number(r.schedule_id),
    parentId: (r.parent_id as string | null) ?? null,
    detached: r.detached === true,
    // 'infinity' (waiting without a deadline) comes back from pg as the number Infinity.
    scheduledAt: r.scheduled_at instanceof Date ? r.scheduled_at : null,
    createdAt: r.created_at as Date,
    startedAt: r.started_at as Date | null,
    updatedAt: r.updated_at as Date,
    finishedAt: r.finished_at as Date | null,
  };
}

/** A row read with ROW_COLUMNS: the fields only FULL_COLUMNS carries come out undefined, and are dropped. */
function instanceRow(r: Record<string, unknown>): InstanceRow {
  const { state: _state, cancelRequested: _cancelRequested, scheduleId: _scheduleId, updatedAt: _updatedAt, ...row } = instanceFull(r);
  return row;
}

/** Maps a row read with SUMMARY_COLUMNS. */
export function summaryRow(r: Record<string, unknown>): InstanceSummary {
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

export interface InstanceNew {
  id: string;
  workflowName: string;
  versionId: number;
  args: Encoded;
  priority?: number;
  delayMs?: number;
  idempotencyKey?: string | null;
  scheduleId?: number | null;
  /** The W3C traceparent of the span that started it. */
  traceContext?: string | null;
}

/**
 * Queues one instance and wakes the pollers, in one statement (so inside the caller's
 * transaction the NOTIFY is delivered only if it commits). With an idempotency key that is
 * already taken, returns the existing instance instead.
 */
export async function instanceInsert(db: Queryable, p: InstanceNew): Promise<{ id: string; inserted: boolean }> {
  const params = [
    p.id,
    p.workflowName,
    p.versionId,
    p.priority ?? 0,
    JSON.stringify(p.args),
    p.idempotencyKey ?? null,
    p.delayMs ?? 0,
    p.scheduleId ?? null,
    p.traceContext ?? null,
  ];
  const sql = `
    WITH ins AS (
      INSERT INTO waymark.instances (id, workflow_name, version_id, status, priority, args, idempotency_key, scheduled_at, schedule_id, trace_context)
      VALUES ($1, $2, $3, 'queued', $4, $5::json, $6, now() + $7 * interval '1 millisecond', $8, $9)
      ON CONFLICT DO NOTHING
      RETURNING id, scheduled_at
    )
    SELECT id::text, true AS inserted, ${notifyQueuedAt("ins.scheduled_at")} FROM ins
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
  p: {
    workflowName: string;
    versionId: number;
    ids: string[];
    args: Encoded[];
    priority?: number;
    delayMs?: number;
    traceContext?: string | null;
    /** The moment `delayMs` counts from (an earlier chunk's answer); default: this statement's now(). */
    since?: string;
  },
): Promise<{ since: string }> {
  // The arguments travel as one JSON array (one JSON.stringify, no array literal for the driver to
  // escape element by element and Postgres to parse), and one NOTIFY goes out however many rows.
  const { rows } = await db.query<{ since: string }>({
    name: "waymark_insert_many",
    text: `WITH ins AS (
       INSERT INTO waymark.instances (id, workflow_name, version_id, status, priority, args, scheduled_at, trace_context)
       SELECT t.id, $2, $3, 'queued', $4, a.args, coalesce($8::timestamptz, now()) + $6 * interval '1 millisecond', $7
         FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)
         JOIN json_array_elements($5::json) WITH ORDINALITY AS a(args, n) USING (n)
       ON CONFLICT (id) DO NOTHING
       RETURNING scheduled_at
     )
     SELECT coalesce($8::timestamptz, now())::text AS since,
            (SELECT count(${notifyQueuedAt("one.scheduled_at")}) FROM (SELECT scheduled_at FROM ins LIMIT 1) AS one) AS notified`,
    values: [p.ids, p.workflowName, p.versionId, p.priority ?? 0, JSON.stringify(p.args), p.delayMs ?? 0, p.traceContext ?? null, p.since ?? null],
  });
  return { since: rows[0]!.since };
}

export async function instanceGet(db: Queryable, p: { id: string }): Promise<InstanceRow | undefined> {
  const { rows } = await db.query(`SELECT ${ROW_COLUMNS} FROM waymark.instances WHERE id = $1`, [p.id]);
  return rows[0] ? instanceRow(rows[0]) : undefined;
}

/** An instance with its snapshot (the live view decodes it to show the calls in flight). */
export async function instanceGetFull(db: Queryable, p: { id: string }): Promise<InstanceFull | undefined> {
  const { rows } = await db.query(`SELECT ${FULL_COLUMNS} FROM waymark.instances WHERE id = $1`, [p.id]);
  if (!rows[0]) return undefined;
  const full = instanceFull(rows[0]);
  // A large state is stored in parts: the whole text, as the row would hold it.
  if (isManifest(full.state)) full.state = (await stateAssemble(db, new Map([[full.id, full.state]]))).get(full.id)!.text;
  return full;
}

/**
 * The done channel's payload that carries finished instances' outcomes (the batched write sends
 * them for small ones, store/progress.ts): the prefix, then a JSON array of `{ id, w: workflow,
 * s: status, r: result, e: error }`. A caller waiting on one needs no read.
 */
export const OUTCOMES = "outcome:";

export function outcomesParse(payload: string): InstanceOutcome[] {
  const list = JSON.parse(payload.slice(OUTCOMES.length)) as Array<{ id: string; w: string; s: InstanceStatus; r: Encoded | null; e: Encoded | null }>;
  return list.map((o) => ({ id: o.id, workflowName: o.w, status: o.s, result: o.r, error: o.e }));
}

/**
 * A statement that reads `columns` of the instances under `where` in creation order, `limit` (a
 * parameter reference) of them. Creation-order indexes hold each status in one place
 * (migrations/0012): rows at rest (completed, failed, cancelled, sleeping) in the created
 * indexes, queued ones in the listable ones, running ones (few: what supervisors hold) in the
 * lease index. Without a status in `where`, each set is read in order up to the limit and the
 * three are merged; a status reads its own. Running and sleeping rows are taken all at once
 * through their partial indexes, then sorted (OFFSET 0 keeps the planner from walking a
 * creation-order index instead, hoping to meet them early).
 */
export function creationOrdered(p: { columns: string; where: string[]; status?: InstanceStatus; order: "ASC" | "DESC"; limit: string }): string {
  const order = `ORDER BY created_at ${p.order}, id ${p.order}`;
  const rows = (where: string[]) => `SELECT * FROM waymark.instances${where.length ? ` WHERE ${where.join(" AND ")}` : ""}`;
  const source =
    p.status === "running" || p.status === "sleeping"
      ? `(${rows(p.where)} OFFSET 0) rare`
      : p.status
        ? `(${rows(p.where)}) i`
        : `(${["status NOT IN ('queued', 'running')", "status = 'queued'", "status = 'running'"]
            .map((set) => `(${rows([...p.where, set])} ${order} LIMIT ${p.limit})`)
            .join(" UNION ALL ")}) i`;
  return `SELECT ${p.columns} FROM ${source} ${order} LIMIT ${p.limit}`;
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
  const { rows } = await db.query(creationOrdered({ columns: ROW_COLUMNS, where, status: p.status, order: "DESC", limit: `$${limit}` }), params);
  return rows.map(instanceRow);
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

/**
 * Cancels an instance. A queued or sleeping one (no supervisor holds it) is cancelled here and
 * now; a running one is flagged, and its supervisor (woken by NOTIFY, or at its next heartbeat)
 * aborts its in-flight actions and ends it `cancelled`. Returns the status it had.
 */
export async function instanceCancel(db: Queryable, p: { id: string; error: Encoded }): Promise<InstanceStatus | undefined> {
  // waymark.cancel_instance (migrations/0005): a parent's end cancels its children through it too.
  const { rows } = await db.query<{ before: InstanceStatus | null }>("SELECT waymark.cancel_instance($1::uuid, $2::json) AS before", [
    p.id,
    JSON.stringify(p.error),
  ]);
  return rows[0]?.before ?? undefined;
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

// Any constant shared by every waymark process: one garbage collector at a time.
const GC_LOCK = 0x7761796e; // "wayn"

/**
 * Deletes up to `limit` instances that finished more than `retentionHours` ago (their attempts,
 * messages, published values and log records go with them), if no other supervisor is collecting
 * right now (a transaction-scoped advisory lock). Returns how many it deleted, or -1 if another
 * collector holds the lock.
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
     ), events AS (
       DELETE FROM waymark.events e USING doomed WHERE e.instance_id = doomed.id
     ), published AS (
       DELETE FROM waymark.published p USING doomed WHERE p.instance_id = doomed.id
     ), logs AS (
       DELETE FROM waymark.workflow_logs l USING doomed WHERE l.instance_id = doomed.id
     ), chunks AS (
       -- Left by a state set aside without a write of its owner (a quarantine, a cancellation while asleep).
       DELETE FROM waymark.state_chunks c USING doomed WHERE c.instance_id = doomed.id
     ), del AS (
       DELETE FROM waymark.instances i USING doomed WHERE i.id = doomed.id RETURNING 1
     )
     SELECT CASE WHEN (SELECT got FROM lock) THEN (SELECT count(*)::int FROM del) END AS n`,
    [p.retentionHours, p.limit, GC_LOCK],
  );
  return rows[0]?.n ?? -1;
}

/**
 * Unfinished instances per workflow and status, counted only if `owner` is the supervisor that
 * has published its status row earliest among the live ones (one counter in the cluster; the
 * others get nothing).
 */
export async function queueDepth(db: Queryable, p: { owner: string }): Promise<Array<{ workflow: string; status: string; count: number }>> {
  const { rows } = await db.query<{ workflow: string; status: string; count: number }>(
    `SELECT i.workflow_name AS workflow, i.status, count(*)::int AS count FROM waymark.instances i
      WHERE i.status IN ('queued', 'running', 'sleeping')
        AND $1 = (SELECT w.owner FROM waymark.worker_status w WHERE w.updated_at > now() - interval '1 minute' ORDER BY w.started_at, w.owner LIMIT 1)
      GROUP BY 1, 2`,
    [p.owner],
  );
  return rows;
}
