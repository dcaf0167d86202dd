-- A workflow's log: the records `console.log(...)` (and `log.info(...)` of "waymark") make in
-- workflow code, shown by the web app's instance page and `waymark instances show`.
--
-- Written by the batched state write (store/progress.ts), in the same lease-guarded statement as
-- the snapshot of the state that made them: a record is on file exactly when the step that made
-- it is, and a step run again after a crash makes the same records, with the same numbers. Only
-- the latest records of an instance are kept (the write deletes older ones as it adds new ones),
-- and the garbage collector deletes them with their instance.
CREATE TABLE waymark.workflow_logs (
  -- No foreign key, as for action_attempts: rows go in only for instances whose guarded update
  -- succeeded in the same statement, and out with their instance.
  instance_id uuid        NOT NULL,
  -- The record's number in its instance, from 1 (the interpreter counts; the snapshot keeps the count).
  seq         bigint      NOT NULL,
  at          timestamptz NOT NULL,
  level       text        NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
  -- The line in the workflow's source file, and the call's node id in the workflow's graph.
  line        integer     NOT NULL,
  node_id     text        NOT NULL,
  message     text        NOT NULL,
  PRIMARY KEY (instance_id, seq)
);
