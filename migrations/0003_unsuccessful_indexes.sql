-- The web app's instance list filtered by status, fast with millions of rows.
--
-- Statuses that are few (queued, sleeping, running) have the claim's partial indexes; most
-- rows are completed, which the unfiltered (created_at, id) indexes serve. Failed and cancelled
-- runs, the ones people look for, get partial indexes of their own. Full indexes on status
-- would cost an entry in each on every claim and completion (status changes are never HOT).
CREATE INDEX instances_unsuccessful_created ON waymark.instances (created_at DESC, id DESC)
  WHERE status IN ('failed', 'cancelled');
CREATE INDEX instances_workflow_unsuccessful_created ON waymark.instances (workflow_name, created_at DESC, id DESC)
  WHERE status IN ('failed', 'cancelled');
