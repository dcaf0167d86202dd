-- Scheduled workflows, and the status row each supervisor publishes.

CREATE TABLE waymark.schedules (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workflow_name    text        NOT NULL,
  schedule_name    text        NOT NULL,
  kind             text        NOT NULL CHECK (kind IN ('cron', 'interval')),
  -- Normalised to 6 fields (seconds first).
  cron             text,
  interval_ms      bigint      CHECK (interval_ms IS NULL OR interval_ms > 0),
  timezone         text        NOT NULL DEFAULT 'UTC',
  jitter_ms        integer     NOT NULL DEFAULT 0 CHECK (jitter_ms >= 0),
  args             json        NOT NULL DEFAULT '[]',
  priority         integer     NOT NULL DEFAULT 0,
  allow_duplicate  boolean     NOT NULL DEFAULT false,
  status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  next_run_at      timestamptz,
  last_run_at      timestamptz,
  last_instance_id uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workflow_name, schedule_name),
  CHECK ((kind = 'cron' AND cron IS NOT NULL) OR (kind = 'interval' AND interval_ms IS NOT NULL))
);

-- The scheduler's claim walks only active schedules, in due order.
CREATE INDEX schedules_due ON waymark.schedules (next_run_at) WHERE status = 'active';

-- Which schedule fired an instance (no foreign key: deleting a schedule keeps its history).
ALTER TABLE waymark.instances ADD COLUMN schedule_id bigint;

-- One row per supervisor, refreshed every WAYMARK_RUNNER_PROFILE_INTERVAL_MS.
CREATE TABLE waymark.worker_status (
  owner       text        PRIMARY KEY,
  hostname    text        NOT NULL,
  pid         integer     NOT NULL,
  started_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  stats       json        NOT NULL
);
