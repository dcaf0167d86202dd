-- The web app's instance list and its counts per status, fast with millions of rows.

-- A status filter pages by (created_at, id) inside one status: without this index a rare
-- status (a few running among a million finished) walks instances_created to the end.
-- The counts per status are bounded index-only scans of the same ranges.
CREATE INDEX instances_status_created ON waymark.instances (status, created_at DESC, id DESC);
-- The same within one workflow (a common workflow with a rare status, and its counts).
CREATE INDEX instances_workflow_status_created ON waymark.instances (workflow_name, status, created_at DESC, id DESC);
