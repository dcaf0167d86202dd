-- The core tables: workflow versions, instances and action attempts.

-- One row per compiled workflow body. An instance pins the version it started on, so a
-- deploy that changes `run()` never changes the graph under a running instance.
CREATE TABLE waymark.workflow_versions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workflow_name text        NOT NULL,
  ir_hash       text        NOT NULL,
  ir            json        NOT NULL,
  source_file   text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  -- Bumped whenever a process registers this version: "the latest registered version" is the
  -- one a schedule fires.
  registered_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workflow_name, ir_hash)
);

CREATE TABLE waymark.instances (
  id               uuid        PRIMARY KEY,
  workflow_name    text        NOT NULL,
  version_id       bigint      NOT NULL REFERENCES waymark.workflow_versions (id),
  status           text        NOT NULL
                   CHECK (status IN ('queued', 'running', 'sleeping', 'completed', 'failed', 'cancelled')),
  priority         integer     NOT NULL DEFAULT 0,
  args             json        NOT NULL,
  -- The interpreter's snapshot (opaque to SQL): written in batches by the lease holder.
  state            text,
  result           json,
  error            json,
  idempotency_key  text,
  -- The lease: owner, fencing epoch (bumped by every claim) and expiry. Every write of instance
  -- state is guarded by owner and epoch, so a stale owner's write changes nothing.
  lease_owner      text,
  lease_epoch      integer     NOT NULL DEFAULT 0,
  lease_expires_at timestamptz,
  -- When a queued instance may start, or when a sleeping one wakes.
  scheduled_at     timestamptz NOT NULL DEFAULT now(),
  cancel_requested boolean     NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz
) WITH (fillfactor = 80); -- room on each page keeps the per-step state updates HOT

-- The claim queries walk only runnable rows, however many finished rows pile up.
CREATE INDEX instances_queued ON waymark.instances (priority DESC, scheduled_at, id) WHERE status = 'queued';
CREATE INDEX instances_sleeping ON waymark.instances (scheduled_at) WHERE status = 'sleeping';
-- The reclaimer finds expired leases (and the heartbeat, an owner's rows, among the running).
-- No index on lease_owner: a generic plan of the batched write would use it to walk all of an
-- owner's running rows instead of looking each written row up by its primary key.
CREATE INDEX instances_running_expiry ON waymark.instances (lease_expires_at) WHERE status = 'running';
-- Listing and garbage collection.
CREATE INDEX instances_created ON waymark.instances (created_at DESC, id DESC);
CREATE INDEX instances_workflow_created ON waymark.instances (workflow_name, created_at DESC, id DESC);
CREATE INDEX instances_finished ON waymark.instances (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX instances_idempotency ON waymark.instances (workflow_name, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- Every execution of every action call: the record of what happened.
CREATE TABLE waymark.action_attempts (
  -- No foreign key: the batched write inserts attempts only for instances whose guarded update
  -- succeeded in the same statement, and the garbage collector deletes them with their instance
  -- (a key check per attempt row would cost more than everything else the write does).
  instance_id uuid        NOT NULL,
  -- The call's sequence number within the instance (its actionId), stable across attempts.
  action_seq  integer     NOT NULL,
  attempt     integer     NOT NULL,
  node_id     text        NOT NULL,
  action_name text        NOT NULL,
  status      text        NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'timed_out', 'cancelled')),
  args        json,
  result      json,
  error       json,
  child_pid   integer,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  PRIMARY KEY (instance_id, action_seq, attempt)
) WITH (fillfactor = 90);
