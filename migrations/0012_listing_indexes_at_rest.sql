-- The creation-order indexes hold only rows at rest (completed, failed, cancelled, sleeping).
--
-- A status change is never HOT, so every index whose predicate the new row version meets gets an
-- entry: with these two indexes whole, claiming an instance (queued -> running) added four
-- entries and queueing one six. Queued rows are listed in creation order by the listable
-- indexes of 0003, and running ones are few (what the supervisors hold, found through the lease
-- index): the list merges the three sets (store/instances.ts, creationOrdered). A claim now adds
-- two entries (the primary key's and the lease index's), a queued instance four: the claim and
-- completion statements alone ran 13,400 -> 14,600 instances/s (node dist/bench/claims.js
-- --limit 200 --claimers 1, alternating with the commit before).
--
-- Built in this migration's transaction, like every index before it: writes to the table wait
-- for the builds (seconds per million rows).
CREATE INDEX instances_rest_created ON waymark.instances (created_at DESC, id DESC)
  WHERE status NOT IN ('queued', 'running');
CREATE INDEX instances_workflow_rest_created ON waymark.instances (workflow_name, created_at DESC, id DESC)
  WHERE status NOT IN ('queued', 'running');
DROP INDEX waymark.instances_created;
DROP INDEX waymark.instances_workflow_created;
