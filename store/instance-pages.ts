/**
 * The web app's list of waymark.instances (rows as instances.ts maps them), a page at a time:
 * keyset pagination on (created_at, id), exact to the microsecond, under filters, with bounded
 * counts per status and the planner's estimates.
 */
import type { Queryable } from "./db.js";
import { creationOrdered, STATUSES, SUMMARY_COLUMNS, summaryRow, type InstanceCursor, type InstanceStatus, type InstanceSummary } from "./instances.js";

export interface InstanceFilter {
  workflow?: string;
  status?: InstanceStatus;
  createdFrom?: Date;
  createdTo?: Date;
  /** Hex digits of the id's start (dashes ignored): a range scan of the primary key. */
  idPrefix?: string;
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

/**
 * One page of instances, newest first. `before` gives the next (older) page, `after` the
 * previous (newer) one; either way the scan starts at the cursor in one of the
 * creation-order indexes (creationOrdered), so page 10,000 costs what page 1 costs.
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
  const { rows } = await db.query(creationOrdered({ columns: SUMMARY_COLUMNS, where, status: p.filter.status, order, limit: `$${limit}` }), params);
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
