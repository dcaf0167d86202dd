/**
 * The shared state of flow control (migrations/0006): concurrency slots held by running attempts
 * (waymark.action_slots), the starts rate limits count (waymark.action_starts), and the calls
 * waiting for their limit (waymark.action_waits). A supervisor's limiter changes them only
 * through `slotsExchange`, one statement per batch.
 */
import type { ActionLimits } from "../core/flow.js";
import type { Queryable } from "./db.js";

/** One (action, key) group's waiting calls, oldest first. */
export interface SlotRequest {
  action: string;
  key: string;
  waiting: Array<{ token: string; instanceId: string }>;
}

export interface SlotGrant {
  action: string;
  key: string;
  /** This owner's tokens granted: they may start now. */
  granted: string[];
  /** For a group the rate window blocks: when its next start frees. */
  nextFree: Date | null;
  /** How many of this owner's calls lead the group's queue, ahead of every other owner's. */
  head: number;
}

/**
 * Records the slots handed in memory, gives back the slots of ended attempts, refreshes this
 * owner's, and grants the head of each asked (or freed) group's queue, cluster-wide (see
 * waymark.slots_exchange in migrations/0007). Other owners granted are told by the NOTIFY
 * `grant <owner> <token,...>`.
 */
export async function slotsExchange(
  db: Queryable,
  p: {
    owner: string;
    ttlMs: number;
    release: string[];
    /** Tokens this owner took by notification: their granted waits go. */
    taken?: string[];
    /** The limits of every limited action this owner knows. */
    limits: Record<string, ActionLimits>;
    requests: SlotRequest[];
    /** Slots handed in memory from an ended attempt to the next call of its group. */
    handoffs?: Array<{ from: string; to: string; instanceId: string; action: string; key: string }>;
  },
): Promise<SlotGrant[]> {
  const { rows } = await db.query<{ action_name: string; limit_key: string; granted: string[]; next_free: Date | null; head: number }>({
    name: "waymark_slots_exchange",
    text: "SELECT action_name, limit_key, granted, next_free, head FROM waymark.slots_exchange($1, $2, $3::text[], $4::text[], $5::json, $6::json, $7::json)",
    values: [
      p.owner,
      p.ttlMs,
      p.release,
      p.taken ?? [],
      JSON.stringify(
        Object.fromEntries(
          Object.entries(p.limits).map(([name, l]) => [name, { c: l.concurrency ?? null, l: l.rateLimit?.limit ?? null, p: l.rateLimit?.periodMs ?? null }]),
        ),
      ),
      JSON.stringify(p.requests.map((r) => ({ a: r.action, k: r.key, w: r.waiting.map((w) => ({ t: w.token, i: w.instanceId })) }))),
      JSON.stringify((p.handoffs ?? []).map((h) => ({ from: h.from, to: h.to, i: h.instanceId, a: h.action, k: h.key }))),
    ],
  });
  return rows.map((r) => ({ action: r.action_name, key: r.limit_key, granted: r.granted, nextFree: r.next_free, head: r.head }));
}

/** Per limited action, across the cluster: attempts holding slots, calls waiting, starts in the current rate window. */
export async function slotsSummary(db: Queryable): Promise<Array<{ action: string; running: number; waiting: number; startsInWindow: number }>> {
  const { rows } = await db.query<{ action: string; running: number; waiting: number; starts: number }>(
    `WITH names AS (
       SELECT action_name FROM waymark.action_slots UNION SELECT action_name FROM waymark.action_waits
       UNION SELECT action_name FROM waymark.action_starts WHERE started_at > now() - period_ms * interval '1 millisecond'
     )
     SELECT n.action_name AS action,
            (SELECT count(*) FROM waymark.action_slots s JOIN waymark.action_owners o ON o.owner = s.owner
              WHERE s.action_name = n.action_name AND o.expires_at > now())::int AS running,
            (SELECT count(*) FROM waymark.action_waits w JOIN waymark.action_owners o ON o.owner = w.owner
              WHERE w.action_name = n.action_name AND o.expires_at > now() AND w.blocked_by <> 'granted')::int AS waiting,
            (SELECT count(*) FROM waymark.action_starts st WHERE st.action_name = n.action_name
                AND st.started_at > now() - st.period_ms * interval '1 millisecond')::int AS starts
       FROM names n ORDER BY 1`,
  );
  return rows.map((r) => ({ action: r.action, running: r.running, waiting: r.waiting, startsInWindow: r.starts }));
}

/** An instance's calls waiting for their limit. */
export async function slotWaitsOf(
  db: Queryable,
  p: { instanceId: string },
): Promise<Array<{ token: string; action: string; key: string; blockedBy: "concurrency" | "rate"; since: Date }>> {
  const { rows } = await db.query<{ token: string; action_name: string; limit_key: string; blocked_by: "concurrency" | "rate"; since: Date }>(
    `SELECT w.token, w.action_name, w.limit_key, w.blocked_by, w.since FROM waymark.action_waits w JOIN waymark.action_owners o ON o.owner = w.owner
      WHERE w.instance_id = $1 AND o.expires_at > now() AND w.blocked_by <> 'granted' ORDER BY w.seq`,
    [p.instanceId],
  );
  return rows.map((r) => ({ token: r.token, action: r.action_name, key: r.limit_key, blockedBy: r.blocked_by, since: r.since }));
}
