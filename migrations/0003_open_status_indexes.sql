-- The web app's instance list filtered by status (and workflow), fast with millions of rows.
--
-- Most rows are completed: the unfiltered (created_at, id) indexes serve them. Running and
-- sleeping rows are few (bounded by what the supervisors hold or what sleeps) and have the
-- claim's partial indexes. Queued rows can pile up (a backlog), and failed and cancelled ones
-- accumulate: these partial indexes list those in creation order. They leave running and
-- completed rows out, so claiming and completing an instance add no entry to them (status
-- changes are never HOT: every index whose predicate holds gets one).
CREATE INDEX instances_listable_created ON waymark.instances (status, created_at DESC, id DESC)
  WHERE status IN ('queued', 'failed', 'cancelled');
CREATE INDEX instances_workflow_listable_created ON waymark.instances (workflow_name, status, created_at DESC, id DESC)
  WHERE status IN ('queued', 'failed', 'cancelled');
