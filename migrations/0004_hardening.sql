-- One bad workflow never harms the cluster: where workflow code lives, and crash-loop quarantine.

-- The line the workflow class starts on in source_file: the IR's positions count from it, so
-- stacks of errors a workflow makes and the locations in its limit errors name file:line.
-- Not part of the version's identity (moving a class in its file keeps its hash): each
-- registration records where it is now.
ALTER TABLE waymark.workflow_versions ADD COLUMN source_line integer;

-- How many times in a row a supervisor died (its lease expired) while it held this instance.
-- The reclaimer counts them; any write by the lease holder (progress) sets it back to 0; at
-- WAYMARK_CRASH_LOOP_LIMIT the instance fails instead of taking down the next supervisor too.
ALTER TABLE waymark.instances ADD COLUMN lease_losses integer NOT NULL DEFAULT 0;

-- Isolated: one more death in a row would fail this instance, so a supervisor runs it alone
-- among the isolated (one at a time): if it dies again, it alone is to blame, not the neighbours
-- it was claimed with. Set by the reclaimer at WAYMARK_CRASH_LOOP_LIMIT - 1 deaths, cleared with
-- them. (A first death, usually a kill or a lost host that takes every instance down at once, is
-- recovered in parallel.)
ALTER TABLE waymark.instances ADD COLUMN isolated boolean NOT NULL DEFAULT false;

-- The claim walks the queue's index and the isolated ones' small index. Each predicate is the
-- claim's WHERE exactly: a filter on top of it made the planner, with the stale statistics of a
-- busy queue, sort the whole queue at every claim instead of reading its first rows in order.
CREATE INDEX instances_isolated ON waymark.instances (priority DESC, scheduled_at, id)
  WHERE status = 'queued' AND isolated;
DROP INDEX waymark.instances_queued;
CREATE INDEX instances_queued ON waymark.instances (priority DESC, scheduled_at, id)
  WHERE status = 'queued' AND NOT isolated;
