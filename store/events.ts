/**
 * waymark.events (the mailboxes), waymark.published (the latest value per key), and the
 * effects a workflow's steps have beyond its own row: sends to other instances, child starts,
 * publications. The SQL functions behind them (send_event, apply_effects, the child and parent
 * triggers) are in migrations/0005_events_and_children.sql. The supervisor consumes messages
 * in its batched write (progress.ts), guarded by the lease like the rest of the state.
 */
import type { Encoded } from "../core/codec.js";
import type { InstanceStatus } from "./instances.js";
import type { Queryable } from "./db.js";

/** What `send_event` answers: stored, already stored under that key, or refused. */
export type SendResult = "sent" | "duplicate" | "not_found" | "finished";

/** Appends a message to an instance's mailbox and wakes the instance (one statement). */
export async function eventSend(db: Queryable, p: { id: string; name: string; payload: Encoded; key?: string | null }): Promise<SendResult> {
  const { rows } = await db.query<{ r: SendResult }>({
    name: "waymark_send_event",
    text: "SELECT waymark.send_event($1::uuid, $2, $3::json, $4) AS r",
    values: [p.id, p.name, JSON.stringify(p.payload), p.key ?? null],
  });
  return rows[0]!.r;
}

/** A message in a mailbox, as the holder of the instance reads it. */
export interface EventMessage {
  position: number;
  name: string;
  payload: Encoded;
  /** Set on a child's outcome, sent to its waiting parent. */
  childId: string | null;
}

/**
 * The unconsumed messages of these instances past the positions given (0: all), with the
 * position of the latest message sent to each: one snapshot, so a message sent later has a
 * higher position than any returned.
 */
export async function eventsFetch(db: Queryable, p: { ids: string[]; after: number[] }): Promise<Map<string, { sent: number; messages: EventMessage[] }>> {
  const { rows } = await db.query<{ id: string; sent: number; position: number | null; name: string; payload: Encoded; child_id: string | null }>({
    name: "waymark_events_fetch",
    text: `SELECT i.id::text AS id, i.events_sent AS sent, e.position, e.name, e.payload, e.child_id::text AS child_id
       FROM unnest($1::uuid[], $2::int[]) AS x(id, after)
       JOIN waymark.instances i ON i.id = x.id
       LEFT JOIN waymark.events e ON e.instance_id = i.id AND e.consumed_at IS NULL AND e.position > x.after
      ORDER BY i.id, e.position`,
    values: [p.ids, p.after],
  });
  const out = new Map<string, { sent: number; messages: EventMessage[] }>();
  for (const r of rows) {
    let entry = out.get(r.id);
    if (!entry) out.set(r.id, (entry = { sent: r.sent, messages: [] }));
    if (r.position !== null) entry.messages.push({ position: r.position, name: r.name, payload: r.payload, childId: r.child_id });
  }
  return out;
}

/** One effect of a workflow step on the world beyond its instance's row. */
export type EffectWrite =
  | { instanceId: string; seq: number; t: "send"; to: string; name: string; payload: Encoded; key: string }
  | { instanceId: string; seq: number; t: "publish"; key: string; value: Encoded }
  | { instanceId: string; seq: number; t: "start"; workflow: string; childId: string; args: Encoded; key: string | null; detached: boolean };

export interface EffectOutcome {
  instanceId: string;
  seq: number;
  r: SendResult | "ok" | "no_version" | "retry";
  /** A started child's id (the existing instance's, when an idempotency key matched one). */
  id?: string;
}

/**
 * Applies effects in one statement, each idempotently (a second application changes nothing
 * and answers as the first did). Sends are ordered by their target, so two batches lock
 * instances in one order.
 */
export async function effectsApply(db: Queryable, effects: EffectWrite[]): Promise<EffectOutcome[]> {
  const order = (e: EffectWrite) => (e.t === "send" ? e.to : "");
  const sorted = [...effects].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  const { rows } = await db.query<{ src: string; step: number; outcome: { r: EffectOutcome["r"]; id?: string } }>({
    name: "waymark_apply_effects",
    text: "SELECT src::text AS src, step, outcome FROM waymark.apply_effects($1::json)",
    values: [
      JSON.stringify(
        sorted.map((e) => {
          if (e.t === "send") return { i: e.instanceId, s: e.seq, t: e.t, to: e.to, name: e.name, payload: e.payload, key: e.key };
          if (e.t === "publish") return { i: e.instanceId, s: e.seq, t: e.t, key: e.key, value: e.value };
          return { i: e.instanceId, s: e.seq, t: e.t, wf: e.workflow, id: e.childId, args: e.args, key: e.key, d: e.detached };
        }),
      ),
    ],
  });
  return rows.map((r) => ({ instanceId: r.src, seq: r.step, r: r.outcome.r, ...(r.outcome.id ? { id: r.outcome.id } : {}) }));
}

/**
 * The latest published value of `key`: `found` false when none was published yet; undefined
 * when there is no such instance.
 */
export async function publishedGet(db: Queryable, p: { id: string; key: string }): Promise<{ found: boolean; value?: Encoded } | undefined> {
  const { rows } = await db.query<{ exists: boolean; value: Encoded | null; found: boolean }>({
    name: "waymark_published_get",
    text: `SELECT EXISTS (SELECT 1 FROM waymark.instances WHERE id = $1) AS exists, p.value, p.key IS NOT NULL AS found
       FROM (SELECT 1) AS one LEFT JOIN waymark.published p ON p.instance_id = $1 AND p.key = $2`,
    values: [p.id, p.key],
  });
  const r = rows[0];
  if (!r?.exists) return undefined;
  return r.found ? { found: true, value: r.value as Encoded } : { found: false };
}

/** Every published value of an instance, by key. */
export async function publishedList(db: Queryable, p: { id: string }): Promise<Array<{ key: string; value: Encoded; updatedAt: Date }>> {
  const { rows } = await db.query<{ key: string; value: Encoded; updated_at: Date }>(
    "SELECT key, value, updated_at FROM waymark.published WHERE instance_id = $1 ORDER BY key",
    [p.id],
  );
  return rows.map((r) => ({ key: r.key, value: r.value, updatedAt: r.updated_at }));
}

/** The messages of an instance's mailboxes that no wait has taken yet, oldest first. */
export async function eventsPending(
  db: Queryable,
  p: { id: string; limit?: number },
): Promise<Array<{ position: number; name: string; payload: Encoded; createdAt: Date; childId: string | null }>> {
  const { rows } = await db.query<{ position: number; name: string; payload: Encoded; created_at: Date; child_id: string | null }>(
    `SELECT position, name, payload, created_at, child_id::text AS child_id FROM waymark.events
      WHERE instance_id = $1 AND consumed_at IS NULL ORDER BY position LIMIT $2`,
    [p.id, p.limit ?? 100],
  );
  return rows.map((r) => ({ position: r.position, name: r.name, payload: r.payload, createdAt: r.created_at, childId: r.child_id }));
}

export interface ChildSummary {
  instanceId: string;
  workflow: string;
  status: InstanceStatus;
  detached: boolean;
}

/** The children an instance started, in start order. */
export async function childrenList(db: Queryable, p: { id: string }): Promise<ChildSummary[]> {
  const { rows } = await db.query<{ id: string; workflow_name: string; status: InstanceStatus; detached: boolean }>(
    `SELECT id::text, workflow_name, status, detached FROM waymark.instances
      WHERE parent_id = $1 ORDER BY parent_step, id`,
    [p.id],
  );
  return rows.map((r) => ({ instanceId: r.id, workflow: r.workflow_name, status: r.status, detached: r.detached }));
}
