/**
 * waymark.worker_status, one row per running supervisor: its host, pid and the stats it publishes
 * (for `waymark status` and the web app's workers page). Rows of supervisors that died without
 * removing theirs are pruned.
 */
import type { Queryable } from "./db.js";

export interface WorkerStatus {
  owner: string;
  hostname: string;
  pid: number;
  startedAt: Date;
  updatedAt: Date;
  stats: Record<string, unknown>;
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

/**
 * Every supervisor's published status row: in the order they started (`waymark status`), or the
 * most recently refreshed first (the web app).
 */
export async function workerStatusList(db: Queryable, p: { order?: "started" | "refreshed" } = {}): Promise<WorkerStatus[]> {
  const order = p.order === "refreshed" ? "updated_at DESC, owner" : "started_at";
  const { rows } = await db.query(`SELECT owner, hostname, pid, started_at, updated_at, stats FROM waymark.worker_status ORDER BY ${order}`);
  return rows.map((r) => ({ owner: r.owner, hostname: r.hostname, pid: r.pid, startedAt: r.started_at, updatedAt: r.updated_at, stats: r.stats ?? {} }));
}

/** Drops status rows not refreshed for `staleMs` (supervisors that died without cleaning up). */
export async function workerStatusPrune(db: Queryable, p: { staleMs: number }): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM waymark.worker_status WHERE updated_at < now() - $1 * interval '1 millisecond'`, [p.staleMs]);
  return rowCount ?? 0;
}
