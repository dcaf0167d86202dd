/**
 * waymark.workflow_versions, one row per (workflow name, IR hash): registering a version, which
 * one is the latest (what a schedule fires), reading their IR, and the names they register.
 */
import type { WorkflowIR } from "../core/ir.js";
import type { Queryable } from "./db.js";

/**
 * Registers a version and returns its id. A new version is the latest at once. An existing one
 * becomes the latest again only with `latest: true` (a supervisor starting up with it, or
 * `scheduleWorkflow`): an app still running old code during a rolling deploy that merely starts
 * an instance must not turn a schedule back to the old body.
 */
export async function versionUpsert(
  db: Queryable,
  p: { name: string; hash: string; ir: WorkflowIR; sourceFile?: string; sourceLine?: number; latest?: boolean },
): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    `INSERT INTO waymark.workflow_versions (workflow_name, ir_hash, ir, source_file, source_line)
     VALUES ($1, $2, $3::json, $4, $6)
     ON CONFLICT (workflow_name, ir_hash) DO UPDATE
       SET registered_at = CASE WHEN $5 THEN now() ELSE waymark.workflow_versions.registered_at END,
           -- Where the class is now (the same body may have moved in its file).
           source_file = coalesce(excluded.source_file, waymark.workflow_versions.source_file),
           source_line = coalesce(excluded.source_line, waymark.workflow_versions.source_line)
     RETURNING id`,
    [p.name, p.hash, JSON.stringify(p.ir), p.sourceFile ?? null, p.latest ?? false, p.sourceLine ?? null],
  );
  return Number(rows[0]!.id);
}

export interface VersionRow {
  id: number;
  name: string;
  hash: string;
  ir: WorkflowIR;
  sourceFile: string | null;
  sourceLine: number | null;
  createdAt: Date;
  registeredAt: Date;
}

function versionRow(r: Record<string, unknown>): VersionRow {
  return {
    id: Number(r.id),
    name: r.workflow_name as string,
    hash: r.ir_hash as string,
    ir: r.ir as WorkflowIR,
    sourceFile: r.source_file as string | null,
    sourceLine: (r.source_line as number | null) ?? null,
    createdAt: r.created_at as Date,
    registeredAt: r.registered_at as Date,
  };
}

export async function versionsGet(db: Queryable, p: { ids: number[] }): Promise<VersionRow[]> {
  const { rows } = await db.query(`SELECT * FROM waymark.workflow_versions WHERE id = ANY($1::bigint[])`, [p.ids]);
  return rows.map(versionRow);
}

/** The most recently registered version of a workflow: what a schedule fires. */
export async function versionLatest(db: Queryable, p: { name: string }): Promise<VersionRow | undefined> {
  const { rows } = await db.query(`SELECT * FROM waymark.workflow_versions WHERE workflow_name = $1 ORDER BY registered_at DESC, id DESC LIMIT 1`, [p.name]);
  return rows[0] ? versionRow(rows[0]) : undefined;
}

export async function versionList(db: Queryable, p: { name?: string } = {}): Promise<Array<Omit<VersionRow, "ir">>> {
  const { rows } = await db.query(
    `SELECT id, workflow_name, ir_hash, source_file, source_line, created_at, registered_at FROM waymark.workflow_versions
      ${p.name ? "WHERE workflow_name = $1" : ""} ORDER BY workflow_name, registered_at DESC`,
    p.name ? [p.name] : [],
  );
  return rows.map((r) => {
    const { ir: _ir, ...rest } = versionRow({ ...r, ir: null });
    void _ir;
    return rest;
  });
}

/** The workflow names that have a registered version (a small table: the filter's choices). */
export async function versionWorkflowNames(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`SELECT DISTINCT workflow_name AS name FROM waymark.workflow_versions ORDER BY 1`);
  return rows.map((r) => r.name);
}
