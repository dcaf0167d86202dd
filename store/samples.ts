/**
 * waymark.samples: the cluster's activity, one row per interval, for the web app's charts. One
 * supervisor at a time writes each interval's sample (`sampleRecord`, from maintenance); the web
 * app reads the last hour (`sampleList`).
 */
import type { Queryable } from "./db.js";

export interface Sample {
  /** The end of the interval the sample covers: (at - seconds, at]. */
  at: Date;
  seconds: number;
  /** Attempts that finished in the interval (any outcome), and those that failed or timed out. */
  actions: number;
  failures: number;
  /** Attempt durations (start in the child to outcome), ms; null without attempts. */
  durationP50Ms: number | null;
  durationP95Ms: number | null;
  /** From the end of an instance's previous action call to the start of its next, ms; null without steps. */
  stepP50Ms: number | null;
  stepP95Ms: number | null;
  /** How long the due instances had waited when the sample was written, ms (0: none waited). */
  lagP50Ms: number;
  lagP95Ms: number;
  /** Open instances per workflow when the sample was written (the 20 with the most by name, the rest under "(other)"). */
  depth: Record<string, { queued: number; running: number; sleeping: number }>;
  /** The statuses whose rows reached the cap (counts are then lower bounds), and "woken" when the due sleepers the lag reads did. */
  capped: string[];
}

// Any constant shared by every waymark process: one sampler at a time.
const SAMPLE_LOCK = 0x7761796f; // "wayo"

/** Workflows named in a sample's depth; the rest are summed under "(other)" (no class is named so). */
const DEPTH_WORKFLOWS = 20;

/**
 * Writes the sample of the latest interval that ended at least `settleMs` ago, unless it is
 * written already or another supervisor is sampling right now, and deletes samples older than
 * `retentionMs`. Returns the interval's end when this call wrote it, else undefined.
 *
 * The intervals are aligned to multiples of `intervalMs` from the epoch, so every supervisor
 * names the same one; the primary key on `at` lets one row in (a second writer whose statement
 * began before the first one committed finds the row at its insert, and does nothing), and the
 * advisory lock spares the others the reads. `settleMs` leaves time for the attempts of the
 * interval to reach the table: they are written in batches after their outcome.
 *
 * Cheap by construction: the interval's attempts come from the finished_at BRIN index, and at most
 * `stepCap` of them (the latest) look up their previous call by primary key; open instances are
 * counted from the partial indexes of each open status, at most `cap` rows each (a status that
 * reaches it is named in `capped`).
 */
export async function sampleRecord(
  db: Queryable,
  p: { intervalMs: number; settleMs: number; retentionMs: number; cap?: number; stepCap?: number },
): Promise<Date | undefined> {
  const { rows } = await db.query<{ at: Date | null }>({
    name: "waymark_sample",
    text: `WITH lock AS MATERIALIZED (
       SELECT pg_try_advisory_xact_lock($1) AS got
     ), win AS MATERIALIZED (
       SELECT to_timestamp(floor((extract(epoch FROM now()) * 1000 - $3::float8) / $2::float8) * $2::float8 / 1000) AS at
     ), go AS MATERIALIZED (
       -- Evaluated once, first: every read below is gated on it (a one-time filter), so a
       -- supervisor that does not write reads nothing else.
       SELECT (SELECT got FROM lock) AND NOT EXISTS (SELECT 1 FROM waymark.samples s, win WHERE s.at = win.at) AS go
     ), att AS MATERIALIZED (
       SELECT a.instance_id, a.action_seq, a.attempt, a.status, a.started_at, a.finished_at
         FROM waymark.action_attempts a, win
        WHERE (SELECT go FROM go) AND a.finished_at > win.at - $2::float8 * interval '1 millisecond' AND a.finished_at <= win.at
     ), steps AS (
       -- The previous action call of the same instance: the nearest lower sequence number with
       -- an attempt (waits and effects have none), one primary-key probe. A retry (attempt > 1)
       -- is no step, nor is a call that started before that one ended (Promise.all siblings).
       SELECT extract(epoch FROM n.started_at - prev.finished_at) * 1000 AS ms
         FROM (SELECT instance_id, action_seq, started_at FROM att WHERE attempt = 1 ORDER BY finished_at DESC LIMIT $6::int) n
         CROSS JOIN LATERAL (
           SELECT p.finished_at FROM waymark.action_attempts p
            WHERE p.instance_id = n.instance_id AND p.action_seq < n.action_seq
            ORDER BY p.action_seq DESC, p.attempt DESC LIMIT 1
         ) prev
        WHERE prev.finished_at <= n.started_at
     ), open AS MATERIALIZED (
       -- Each open status from its partial index, at most $5 rows: a backlog costs no more.
       (SELECT workflow_name, status, scheduled_at FROM waymark.instances WHERE status = 'queued' AND (SELECT go FROM go) LIMIT $5::int)
       UNION ALL
       (SELECT workflow_name, status, scheduled_at FROM waymark.instances WHERE status = 'running' AND (SELECT go FROM go) LIMIT $5::int)
       UNION ALL
       (SELECT workflow_name, status, scheduled_at FROM waymark.instances WHERE status = 'sleeping' AND (SELECT go FROM go) LIMIT $5::int)
     ), due AS MATERIALIZED (
       -- Waiting to be claimed: queued and due, or asleep past the wake time ("woken").
       SELECT scheduled_at, status FROM open WHERE status = 'queued' AND scheduled_at <= now()
       UNION ALL
       (SELECT scheduled_at, 'woken' FROM waymark.instances WHERE status = 'sleeping' AND scheduled_at <= now() AND (SELECT go FROM go) LIMIT $5::int)
     ), per AS (
       SELECT workflow_name,
              count(*) FILTER (WHERE status = 'queued') AS queued,
              count(*) FILTER (WHERE status = 'running') AS running,
              count(*) FILTER (WHERE status = 'sleeping') AS sleeping,
              row_number() OVER (ORDER BY count(*) DESC, workflow_name) AS rank
         FROM open GROUP BY workflow_name
     ), pruned AS (
       DELETE FROM waymark.samples WHERE at < now() - $4::float8 * interval '1 millisecond' AND (SELECT go FROM go)
     ), ins AS (
       INSERT INTO waymark.samples AS s
         (at, seconds, actions, failures, duration_p50_ms, duration_p95_ms, step_p50_ms, step_p95_ms, lag_p50_ms, lag_p95_ms, depth, capped)
       SELECT win.at, $2::float8 / 1000, d.actions, d.failures, d.p50, d.p95, st.p50, st.p95, coalesce(l.p50, 0), coalesce(l.p95, 0),
              (SELECT coalesce(jsonb_object_agg(name, jsonb_build_object('queued', q, 'running', r, 'sleeping', sl)), '{}')
                 FROM (SELECT CASE WHEN rank <= $7 THEN workflow_name ELSE '(other)' END AS name,
                              sum(queued)::int AS q, sum(running)::int AS r, sum(sleeping)::int AS sl
                         FROM per GROUP BY 1) x),
              ARRAY(SELECT c FROM (SELECT status AS c FROM open GROUP BY status HAVING count(*) >= $5::int
                                   UNION ALL SELECT status FROM due WHERE status = 'woken' GROUP BY status HAVING count(*) >= $5::int) x ORDER BY c)
         FROM win,
              (SELECT count(*)::int AS actions, (count(*) FILTER (WHERE status IN ('failed', 'timed_out')))::int AS failures,
                      extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY finished_at - started_at)) * 1000 AS p50,
                      extract(epoch FROM percentile_disc(0.95) WITHIN GROUP (ORDER BY finished_at - started_at)) * 1000 AS p95
                 FROM att) d,
              (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_disc(0.95) WITHIN GROUP (ORDER BY ms) AS p95 FROM steps) st,
              (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_disc(0.95) WITHIN GROUP (ORDER BY ms) AS p95
                 FROM (SELECT extract(epoch FROM now() - scheduled_at) * 1000 AS ms FROM due) x) l
        WHERE (SELECT go FROM go)
       ON CONFLICT (at) DO NOTHING
       RETURNING s.at
     )
     SELECT (SELECT at FROM ins) AS at`,
    values: [SAMPLE_LOCK, p.intervalMs, p.settleMs, p.retentionMs, p.cap ?? 10_000, p.stepCap ?? 2_000, DEPTH_WORKFLOWS],
  });
  return rows[0]?.at ?? undefined;
}

/**
 * The samples whose interval ended in the last `windowMs` (by the database's clock) and after
 * `since` when given, oldest first.
 */
export async function sampleList(db: Queryable, p: { since?: Date; windowMs: number }): Promise<Sample[]> {
  const { rows } = await db.query(
    `SELECT at, seconds, actions, failures, duration_p50_ms, duration_p95_ms, step_p50_ms, step_p95_ms, lag_p50_ms, lag_p95_ms, depth, capped
       FROM waymark.samples
      WHERE at > now() - $2::float8 * interval '1 millisecond' AND ($1::timestamptz IS NULL OR at > $1)
      ORDER BY at`,
    [p.since ?? null, p.windowMs],
  );
  return rows.map((r) => ({
    at: r.at,
    seconds: r.seconds,
    actions: r.actions,
    failures: r.failures,
    durationP50Ms: r.duration_p50_ms,
    durationP95Ms: r.duration_p95_ms,
    stepP50Ms: r.step_p50_ms,
    stepP95Ms: r.step_p95_ms,
    lagP50Ms: r.lag_p50_ms,
    lagP95Ms: r.lag_p95_ms,
    depth: r.depth,
    capped: r.capped,
  }));
}

/** Whether any sample ended in the last `windowMs` (the page's empty state). */
export async function sampleAny(db: Queryable, p: { windowMs: number }): Promise<boolean> {
  const { rows } = await db.query(`SELECT EXISTS (SELECT 1 FROM waymark.samples WHERE at > now() - $1::float8 * interval '1 millisecond') AS any`, [
    p.windowMs,
  ]);
  return rows[0]?.any === true;
}
