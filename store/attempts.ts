/**
 * waymark.action_attempts, one row per attempt of an action call: the row types, an instance's
 * attempts for the CLI and the web app, and the recorded outcomes a resumed instance applies.
 * The supervisor writes them with its instance states, in progress.ts.
 */
import type { Encoded } from "../core/codec.js";
import type { Queryable } from "./db.js";

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
  /** The latest progress the attempt reported (actionContext().progress). */
  progress: Encoded | null;
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
  progress?: Encoded;
}

export interface AttemptOutcome {
  instanceId: string;
  actionSeq: number;
  attempt: number;
  status: "completed" | "failed" | "timed_out" | "cancelled";
  result: Encoded | null;
  error: Encoded | null;
}

export async function attemptList(db: Queryable, p: { instanceId: string }): Promise<AttemptRow[]> {
  const { rows } = await db.query(
    `SELECT action_seq, attempt, node_id, action_name, status, args, result, error, child_pid, started_at, finished_at, progress
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
    progress: r.progress,
  }));
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

/**
 * Running attempts' latest progress, in one statement: the row is made if the attempt has none
 * yet (it is written whole when it ends, keeping the progress), and only its progress changes
 * if it has one (a late report never turns an ended attempt back into a running one).
 */
export async function attemptProgressWrite(
  db: Queryable,
  rows: Array<{
    instanceId: string;
    actionSeq: number;
    attempt: number;
    nodeId: string;
    actionName: string;
    args: Encoded;
    startedAt: number;
    progress: Encoded;
  }>,
): Promise<void> {
  if (!rows.length) return;
  await db.query({
    name: "waymark_attempt_progress",
    text: `INSERT INTO waymark.action_attempts AS a (instance_id, action_seq, attempt, node_id, action_name, status, args, started_at, progress)
           SELECT t.i, t.s, t.a, t.n, t.an, 'running', t.args, to_timestamp(t.t0 / 1000.0), t.pr
             FROM json_to_recordset($1::json) AS t(i uuid, s int, a int, n text, an text, args json, t0 float8, pr json)
           ON CONFLICT (instance_id, action_seq, attempt) DO UPDATE SET progress = excluded.progress`,
    values: [
      JSON.stringify(
        rows.map((r) => ({ i: r.instanceId, s: r.actionSeq, a: r.attempt, n: r.nodeId, an: r.actionName, args: r.args, t0: r.startedAt, pr: r.progress })),
      ),
    ],
  });
}
