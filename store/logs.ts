/**
 * waymark.workflow_logs, the records a workflow's `console.log(...)` makes: the row types and an
 * instance's records for the web app and the CLI. The supervisor writes them with its instance
 * states, in progress.ts, which also keeps only the latest LOG_RECORDS_KEPT of each instance.
 */
import type { WorkflowLogLevel } from "../core/ir.js";
import type { Queryable } from "./db.js";

/** A record as the supervisor writes it. */
export interface LogWrite {
  seq: number;
  /** Epoch milliseconds. */
  at: number;
  level: WorkflowLogLevel;
  line: number;
  nodeId: string;
  message: string;
}

export interface LogRow {
  seq: number;
  at: Date;
  level: WorkflowLogLevel;
  line: number;
  nodeId: string;
  message: string;
}

/** An instance's latest `limit` records, oldest first (the primary key's range, read backwards). */
export async function workflowLogList(db: Queryable, p: { instanceId: string; limit: number }): Promise<LogRow[]> {
  const { rows } = await db.query(
    `SELECT seq, at, level, line, node_id, message FROM (
       SELECT * FROM waymark.workflow_logs WHERE instance_id = $1 ORDER BY seq DESC LIMIT $2
     ) AS latest ORDER BY seq`,
    [p.instanceId, p.limit],
  );
  return rows.map((r) => ({ seq: Number(r.seq), at: r.at, level: r.level, line: r.line, nodeId: r.node_id, message: r.message }));
}
