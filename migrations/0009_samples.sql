-- The web app's charts: the cluster's activity, one sample per interval, kept for about an hour.

-- One row per interval (at - seconds, at]: the intervals are aligned to multiples of their length
-- from the epoch, so every supervisor names the same one and the primary key lets only one row
-- in whoever writes it (store/samples.ts `samplesRecord`, one supervisor at a time under an
-- advisory lock). Counts and percentiles cover the attempts that finished in the interval; queue
-- depth and lag are read when the row is written, a few seconds after the interval ended.
CREATE TABLE waymark.samples (
  at              timestamptz PRIMARY KEY,
  seconds         float8      NOT NULL,
  -- Attempts that finished in the interval (any outcome), and those that failed or timed out.
  actions         integer     NOT NULL,
  failures        integer     NOT NULL,
  -- Their durations (start in the child to outcome), milliseconds; null without attempts.
  duration_p50_ms float8,
  duration_p95_ms float8,
  -- Step latency: from the end of an instance's previous action call to the start of its next
  -- one (first attempts whose call did not overlap the previous one); null without such steps.
  step_p50_ms     float8,
  step_p95_ms     float8,
  -- How long the due instances (queued, or asleep past their wake time) have waited so far; 0
  -- when none waits.
  lag_p50_ms      float8      NOT NULL,
  lag_p95_ms      float8      NOT NULL,
  -- Open instances per workflow: {"<workflow>": {"queued": n, "running": n, "sleeping": n}}; the
  -- 20 workflows with the most are named, the rest summed under "(other)".
  depth           jsonb       NOT NULL,
  -- The statuses whose count reached the sampler's cap (the counts are then lower bounds), and
  -- "woken" when the due sleepers the lag reads did.
  capped          text[]      NOT NULL DEFAULT '{}'
);

-- The sampler finds the attempts that finished in an interval. Attempts are written at their
-- outcome, in time order, so a BRIN index (a summary per 16 pages) finds the recent ones: it costs
-- the attempt insert next to nothing (a B-tree here was an index entry per attempt, 2-10% of the
-- insert in a micro-benchmark), and it is built quickly even on a large table.
CREATE INDEX action_attempts_finished ON waymark.action_attempts USING brin (finished_at) WITH (pages_per_range = 16);
