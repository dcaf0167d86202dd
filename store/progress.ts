/**
 * The supervisor's writes of instance progress: one statement per batch writes instance states
 * (waymark.instances, guarded by the lease leases.ts hands out) and the action attempts
 * (waymark.action_attempts) of the instances whose guard held, and sends the NOTIFYs.
 */
import type { Encoded } from "../core/codec.js";
import type { AttemptWrite } from "./attempts.js";
import { arrayParam, CHANNELS, NOTIFY_QUEUED, type Queryable } from "./db.js";
import { OUTCOMES, type InstanceStatus } from "./instances.js";
import type { LogWrite } from "./logs.js";
import { LOG_RECORDS_KEPT } from "../core/limits.js";

export interface InstanceWrite {
  id: string;
  epoch: number;
  status: InstanceStatus;
  /** The new snapshot; undefined keeps the stored one. */
  state?: string | null;
  result?: Encoded;
  error?: Encoded;
  /** Wake time of a sleeping instance, or the requeue time of a released one. */
  scheduledAt?: Date;
  /** For a sleeping or released instance: its error if a cancellation turns out to be pending. */
  cancelError?: Encoded;
  /**
   * The mailbox position its holder has read up to, for an instance that waits on events or
   * children: a sleeping write with a newer message waiting wakes at once instead.
   */
  seen?: number;
  /** It has started children it waits for (cancelled when it finishes). */
  awaitsChildren?: boolean;
  /** Mailbox positions its new state has taken: consumed by this write. */
  consumed?: number[];
  /** Log records its workflow made (only in a write that carries its state, or its last one). */
  logs?: LogWrite[];
  /** Its workflow's name, in a write that finishes it (it is part of the outcome its callers are told). */
  workflowName?: string;
  /**
   * What is on file of its state's chunks is not known (a write failed): every chunk its new state
   * does not name is deleted (all of them, for a state written whole or none). Only with a state.
   */
  chunked?: boolean;
  /** The chunks of its state (a manifest, store/state.ts) not yet on file, by id. */
  chunks?: Array<[number, string]>;
  /** The chunks on file its new state no longer names. */
  chunkDrop?: number[];
}

const json = (v: Encoded | undefined) => (v === undefined ? null : JSON.stringify(v));
/** An attempt's value: none and null are both SQL NULL, as they always were in its row. */
const attemptJson = (v: Encoded | undefined) => (v === undefined || v === null ? null : JSON.stringify(v));

const FINISHED = new Set<InstanceStatus>(["completed", "failed", "cancelled"]);
/** The largest outcome the done channel carries (see the statement's `told`). */
const TOLD_MAX_BYTES = 1000;

/**
 * The bytes of a finished instance's entry in an outcomes payload, at most (id, status and keys
 * take under 100); without its workflow's name, none: it is told by id.
 */
function outcomeBytes(x: InstanceWrite, result: string | null, error: string | null): number {
  if (x.workflowName === undefined) return Number.POSITIVE_INFINITY;
  return 100 + Buffer.byteLength(x.workflowName) + (result ? Buffer.byteLength(result) : 0) + (error ? Buffer.byteLength(error) : 0);
}

/**
 * The batched write's statement; `logs`: with the CTEs that write log records (a parameter more).
 * MATERIALIZED, with the owner and the expected status as columns of w: the planner must not see
 * constants it could match to a partial index (it would walk every running row of the table for
 * each written one); the only way in is the primary key.
 *
 * `LIMIT $18` (the batch's size) is a fence for the plan: the statement is prepared once per
 * connection and its generic plan kept, often from when the table was small (a fresh install, a
 * supervisor's first minute). Estimating w at 10 rows (unnest's default) against a table of a
 * few pages, the planner hashed w and joined it to a sequential scan of the whole table; the
 * table then grew to tens of thousands of rows under the same plan until an ANALYZE, and the scan
 * cost 60% of the write (bench tiny). A LIMIT by parameter is estimated at a tenth of its input:
 * one row, for which a primary-key lookup is the cheapest plan at every size.
 */
function persistText(logs: boolean, chunks: boolean): string {
  // Past the thirty-two parameters of every form: the chunks' six, then the log records.
  const logsAt = chunks ? 39 : 33;
  return `WITH w AS MATERIALIZED (
       SELECT u.*, $1::text AS owner, 'running'::text AS expect
         FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::boolean[], $7::json[], $8::json[], $9::timestamptz[], $13::json[], $14::boolean[], $15::int[], $16::boolean[], $19::boolean[], $20::boolean[])
           AS u(id, epoch, status, state, keep_state, result, error, scheduled_at, cancel_error, progress, seen, kids, told, chunked)
        LIMIT $18
     ), upd AS (
       UPDATE waymark.instances i
          -- A cancellation requested while this write was on its way (the supervisor saw it too
          -- late to act on it) wins over going to sleep or back to the queue: without this the
          -- instance would sleep on, cancel_requested set, until its timer woke it.
          SET status = CASE WHEN i.cancel_requested AND w.status IN ('sleeping', 'queued') THEN 'cancelled' ELSE w.status END,
              state = CASE WHEN i.cancel_requested AND w.status IN ('sleeping', 'queued') THEN NULL
                           WHEN w.keep_state THEN i.state ELSE w.state END,
              result = w.result,
              error = CASE WHEN i.cancel_requested AND w.status IN ('sleeping', 'queued') THEN w.cancel_error ELSE w.error END,
              -- A message newer than its holder read arrived meanwhile: asleep, it is due at once.
              -- Waiting without a deadline, it sleeps until a message wakes it.
              scheduled_at = CASE WHEN w.status = 'sleeping' AND i.events_sent > w.seen THEN now()
                                  WHEN w.status = 'sleeping' THEN coalesce(w.scheduled_at, 'infinity')
                                  ELSE coalesce(w.scheduled_at, i.scheduled_at) END,
              awaits_children = i.awaits_children OR coalesce(w.kids, false),
              lease_owner = CASE WHEN w.status = 'running' THEN i.lease_owner END,
              lease_expires_at = CASE WHEN w.status = 'running' THEN i.lease_expires_at END,
              -- Progress written (a new state or recorded attempts) clears the deaths in a row.
              lease_losses = CASE WHEN w.progress OR w.status <> 'running' THEN 0 ELSE i.lease_losses END,
              isolated = i.isolated AND NOT (w.progress OR w.status <> 'running'),
              finished_at = CASE WHEN w.status IN ('completed', 'failed', 'cancelled')
                                   OR (i.cancel_requested AND w.status IN ('sleeping', 'queued')) THEN now() END,
              updated_at = now()
         FROM w
        -- The lease guard: only the current holder of this claim (owner and epoch) may write.
        WHERE i.id = w.id AND i.lease_owner = w.owner AND i.lease_epoch = w.epoch AND i.status = w.expect
       RETURNING i.id, i.status, w.status AS wanted, i.events_sent, (w.status = 'sleeping' AND i.events_sent > w.seen) AS woke,
                 CASE WHEN w.told THEN json_build_object('id', i.id, 'w', i.workflow_name, 's', i.status, 'r', w.result, 'e', w.error)::text END AS told${chunks ? CHUNK_RETURNING : ""}
     ), took AS (
       UPDATE waymark.events e SET consumed_at = now()
         FROM json_to_recordset($17::json) AS c(i uuid, p int)
        WHERE e.instance_id = c.i AND e.position = c.p AND c.i IN (SELECT id FROM upd)
     ), att AS (
       -- The attempts travel as thirteen arrays ($10 and $21-$32), times in epoch milliseconds:
       -- Postgres reads them in half the time json_to_recordset took over one JSON array (a hash
       -- table per object), 3 µs an attempt, on the statement every step waits for.
       INSERT INTO waymark.action_attempts AS a
         (instance_id, action_seq, attempt, node_id, action_name, status, args, result, error, child_pid, started_at, finished_at, progress)
       SELECT t.i, t.s, t.a, t.n, t.an, t.st, t.args, t.r, t.e, t.p, to_timestamp(t.t0 / 1000.0), to_timestamp(t.t1 / 1000.0), t.pr
         FROM unnest($10::uuid[], $21::int[], $22::int[], $23::text[], $24::text[], $25::text[], $26::json[], $27::json[], $28::json[], $29::int[], $30::float8[], $31::float8[], $32::json[])
           AS t(i, s, a, n, an, st, args, r, e, p, t0, t1, pr)
        WHERE t.i IN (SELECT id FROM upd)
       ON CONFLICT (instance_id, action_seq, attempt) DO UPDATE
         SET status = excluded.status, result = excluded.result, error = excluded.error,
             child_pid = coalesce(excluded.child_pid, a.child_pid), finished_at = excluded.finished_at,
             progress = coalesce(excluded.progress, a.progress), args = coalesce(a.args, excluded.args),
             started_at = CASE WHEN a.status = 'running' THEN excluded.started_at ELSE a.started_at END
     )${chunks ? CHUNK_CTES : ""}${logs ? logCtes(logsAt) : ""}, note AS (
       SELECT count(pg_notify(x.channel, x.payload)) AS n FROM unnest($11::text[], $12::text[]) AS x(channel, payload)
     ), told AS (
       -- Finished instances with small outcomes, outcomes included: a waiting caller reads
       -- nothing. Only rows this statement wrote (a refused write tells no one), in payloads under
       -- NOTIFY's 8000 bytes: an entry is at most ~1000 bytes (the client picks which), and a
       -- payload takes entries while their running total stays in one 6000-byte bucket.
       SELECT count(pg_notify('${CHANNELS.done}', '${OUTCOMES}[' || b.entries || ']')) AS n FROM (
         SELECT string_agg(e.told, ',') AS entries FROM (
           SELECT upd.told, sum(octet_length(upd.told)) OVER (ORDER BY upd.id) / 6000 AS bucket FROM upd WHERE upd.told IS NOT NULL
         ) AS e GROUP BY e.bucket
       ) AS b
     ), late AS (
       SELECT count(pg_notify('${CHANNELS.done}', upd.id::text)) AS n FROM upd WHERE upd.status = 'cancelled' AND upd.wanted <> 'cancelled'
     ), woken AS (
       SELECT count(${NOTIFY_QUEUED}) AS n FROM (SELECT 1 FROM upd WHERE upd.woke AND upd.status = 'sleeping' LIMIT 1) AS one
     )
     -- Two comma-separated texts, not arrays: the driver's array parser took a twentieth of what
     -- the supervisor allocated in a tiny bench run. Both aggregates see the rows in one order.
     SELECT coalesce(string_agg(upd.id::text, ','), '') AS ids, coalesce(string_agg(upd.events_sent::text, ','), '') AS sent,
            (SELECT n FROM note) + (SELECT n FROM told) AS notified, (SELECT n FROM late) AS cancelled, (SELECT n FROM woken) AS woken FROM upd`;
}

/**
 * The log records travel with the state that made them (the instance's write carries a snapshot
 * whenever it carries records), only for instances whose guard held. A batch written again
 * (its reply was lost) finds its records there and leaves them. Then each instance keeps its
 * latest LOG_RECORDS_KEPT: the older ones go by the primary key's range (the delete sees the
 * table as it was before this statement; a write never carries more than that many).
 */
function logCtes(at: number): string {
  return `, logged AS (
       INSERT INTO waymark.workflow_logs (instance_id, seq, at, level, line, node_id, message)
       SELECT g.i, g.s, to_timestamp(g.t / 1000.0), g.v, g.l, g.n, g.m
         FROM json_to_recordset($${at}::json) AS g(i uuid, s bigint, t float8, v text, l int, n text, m text)
        WHERE g.i IN (SELECT id FROM upd)
       ON CONFLICT (instance_id, seq) DO NOTHING
     ), pruned AS (
       DELETE FROM waymark.workflow_logs o
        USING (SELECT g.i, max(g.s) AS top FROM json_to_recordset($${at}::json) AS g(i uuid, s bigint) GROUP BY g.i) AS n
        WHERE o.instance_id = n.i AND o.seq <= n.top - ${LOG_RECORDS_KEPT} AND n.i IN (SELECT id FROM upd)
     )`;
}

/**
 * A large state's parts (store/state.ts), for instances whose guard held: the write's new chunks
 * go in (a batch written again finds them there), and the instance's chunks its manifest no
 * longer names go (all of them, for a state written whole or finished). Only instances that may
 * have chunks on file are looked at.
 */
const CHUNK_RETURNING = `,
                 w.chunked, CASE WHEN left(w.state, 1) = '@' THEN string_to_array(substr(w.state, 2), ',')::int[] ELSE '{}' END AS keep`;
const CHUNK_CTES = `, put AS (
       INSERT INTO waymark.state_chunks AS c (instance_id, id, data)
       SELECT k.i, k.n, k.d FROM unnest($33::uuid[], $34::int[], $35::text[]) AS k(i, n, d)
        WHERE k.i IN (SELECT id FROM upd)
       ON CONFLICT (instance_id, id) DO UPDATE SET data = excluded.data
     ), unnamed AS (
       DELETE FROM waymark.state_chunks c USING upd
        WHERE c.instance_id = upd.id AND upd.chunked AND NOT (c.id = ANY (upd.keep))
     ), dropped AS (
       -- The chunks a write replaced, by key (the usual case: a write knows what is on file).
       -- The LIMIT by parameter fences the plan to key lookups, as w's does.
       DELETE FROM waymark.state_chunks c
        USING (SELECT * FROM unnest($36::uuid[], $37::int[]) AS d(i, n) LIMIT $38) AS d
        WHERE c.instance_id = d.i AND c.id = d.n AND d.i IN (SELECT id FROM upd)
     )`;

/**
 * The statement's forms, each prepared once per connection under its own name: the chunks' CTEs
 * only for batches with an instance that has or writes a state in parts, the log records' only
 * for batches that carry some, so a batch pays only for what it carries.
 */
const FORMS = new Map<string, { name: string; text: string }>();
function persistForm(logs: boolean, chunks: boolean): { name: string; text: string } {
  const name = `waymark_persist${chunks ? "_chunks" : ""}${logs ? "_logs" : ""}`;
  let form = FORMS.get(name);
  if (!form) FORMS.set(name, (form = { name, text: persistText(logs, chunks) }));
  return form;
}

/**
 * One statement for a whole batch: instance states (guarded by the lease), their action
 * attempts (written only for instances whose guard held), and NOTIFYs for finished instances
 * (chunked to stay under the payload limit) and released ones; the mailbox messages the new
 * states took are marked consumed. Returns the instances whose write held, each with the
 * position of the latest message sent to it; an instance missing from the result has lost its
 * lease and must be dropped.
 */
export async function instancesPersist(
  db: Queryable,
  p: { owner: string; instances: InstanceWrite[]; attempts: AttemptWrite[] },
): Promise<Map<string, number>> {
  // In id order, the order the heartbeat locks rows in: no deadlock between the two.
  const I = [...p.instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const A = p.attempts;
  // The NOTIFYs, worked out here: finished instances for their callers (ids in chunks under the
  // payload limit), released ones for the pollers. Sent at commit; one for an instance whose
  // lease guard fails is harmless (a caller looks, finds it unfinished, and goes on waiting).
  const notes: Array<[string, string]> = [];
  // A finished instance with a small outcome is told with its outcome, by the statement (only
  // if its write holds); the others by id, for their callers to read.
  const results = I.map((x) => json(x.result));
  const errors = I.map((x) => json(x.error));
  const told = I.map((x, n) => FINISHED.has(x.status) && outcomeBytes(x, results[n], errors[n]) <= TOLD_MAX_BYTES);
  const finished = I.filter((x, n) => FINISHED.has(x.status) && !told[n]).map((x) => x.id);
  for (let i = 0; i < finished.length; i += 200) notes.push([CHANNELS.done, finished.slice(i, i + 200).join(",")]);
  if (I.some((x) => x.status === "queued")) notes.push([CHANNELS.work, "queued"]);
  const withAttempts = new Set(A.map((a) => a.instanceId));
  const consumed = I.flatMap((x) => (x.consumed ?? []).map((position) => ({ i: x.id, p: position })));
  const logs: Array<{ i: string; s: number; t: number; v: string; l: number; n: string; m: string }> = [];
  for (const x of I) for (const l of x.logs ?? []) logs.push({ i: x.id, s: l.seq, t: l.at, v: l.level, l: l.line, n: l.nodeId, m: l.message });
  const withLogs = logs.length > 0;
  const withChunks = I.some((x) => x.chunked || x.chunks || x.chunkDrop);
  const put: { i: string[]; n: number[]; d: string[] } = { i: [], n: [], d: [] };
  const drop: { i: string[]; n: number[] } = { i: [], n: [] };
  if (withChunks)
    for (const x of I) {
      for (const [n, d] of x.chunks ?? []) {
        put.i.push(x.id);
        put.n.push(n);
        put.d.push(d);
      }
      for (const n of x.chunkDrop ?? []) {
        drop.i.push(x.id);
        drop.n.push(n);
      }
    }
  const { rows } = await db.query<{ ids: string; sent: string }>({
    // Two prepared statements: the one with the log records' CTEs only for batches that carry
    // some, so a workflow that does not log pays nothing for them.
    ...persistForm(withLogs, withChunks),
    values: [
      p.owner,
      arrayParam(I.map((x) => x.id)),
      arrayParam(I.map((x) => x.epoch)),
      arrayParam(I.map((x) => x.status)),
      arrayParam(I.map((x) => (x.state === undefined ? null : x.state))),
      arrayParam(I.map((x) => x.state === undefined)),
      arrayParam(results),
      arrayParam(errors),
      arrayParam(I.map((x) => x.scheduledAt ?? null)),
      arrayParam(A.map((x) => x.instanceId)),
      arrayParam(notes.map((n) => n[0])),
      arrayParam(notes.map((n) => n[1])),
      arrayParam(I.map((x) => json(x.cancelError))),
      arrayParam(I.map((x) => x.state !== undefined || withAttempts.has(x.id))),
      arrayParam(I.map((x) => x.seen ?? null)),
      arrayParam(I.map((x) => x.awaitsChildren ?? null)),
      JSON.stringify(consumed),
      I.length,
      arrayParam(told),
      arrayParam(I.map((x) => x.chunked === true)),
      arrayParam(A.map((x) => x.actionSeq)),
      arrayParam(A.map((x) => x.attempt)),
      arrayParam(A.map((x) => x.nodeId)),
      arrayParam(A.map((x) => x.actionName)),
      arrayParam(A.map((x) => x.status)),
      arrayParam(A.map((x) => attemptJson(x.args))),
      arrayParam(A.map((x) => attemptJson(x.result))),
      arrayParam(A.map((x) => attemptJson(x.error))),
      arrayParam(A.map((x) => x.childPid ?? null)),
      arrayParam(A.map((x) => x.startedAt.getTime())),
      arrayParam(A.map((x) => (x.finishedAt ? x.finishedAt.getTime() : null))),
      arrayParam(A.map((x) => attemptJson(x.progress))),
      ...(withChunks ? [arrayParam(put.i), arrayParam(put.n), arrayParam(put.d), arrayParam(drop.i), arrayParam(drop.n), drop.i.length] : []),
      ...(withLogs ? [JSON.stringify(logs)] : []),
    ],
  });
  const written = new Map<string, number>();
  const ids = rows[0]?.ids;
  if (!ids) return written;
  const sent = rows[0]!.sent.split(",");
  let n = 0;
  for (const id of ids.split(",")) written.set(id, Number(sent[n++]));
  return written;
}
