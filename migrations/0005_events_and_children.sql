-- Workflows that wait for the world: event mailboxes, published values, and child workflows.

-- A child workflow's parent, and whether the parent waits for it (`new Child().run()`) or not
-- (`new Child().start()`, detached). The parent's awaits_children is set by its own write when it
-- starts a child it waits for: when it finishes, those children still running are cancelled.
ALTER TABLE waymark.instances
  ADD COLUMN parent_id uuid,
  -- The parent's step that started it: the parent's children in start order.
  ADD COLUMN parent_step integer,
  ADD COLUMN detached boolean NOT NULL DEFAULT false,
  ADD COLUMN awaits_children boolean NOT NULL DEFAULT false,
  -- Messages ever sent to this instance: the position of the latest in its mailbox. Bumped under
  -- the row's lock by waymark.send_event, so positions follow commit order; the holder of the
  -- instance knows the position it has read up to, and a write that would put it to sleep with a
  -- newer message waiting wakes it at once instead (no lost wake-up between the two).
  ADD COLUMN events_sent integer NOT NULL DEFAULT 0;

CREATE INDEX instances_parent ON waymark.instances (parent_id, parent_step) WHERE parent_id IS NOT NULL;

-- The mailboxes: one FIFO per (instance, name). A message is consumed by the write of the
-- instance's state that took it (progress.ts), so exactly once whatever crashes. A child's outcome
-- reaches its waiting parent here too (child_id set, name 'child').
CREATE TABLE waymark.events (
  instance_id     uuid        NOT NULL,
  position        integer     NOT NULL,
  name            text        NOT NULL,
  payload         json        NOT NULL,
  idempotency_key text,
  child_id        uuid,
  consumed_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (instance_id, position)
);
CREATE UNIQUE INDEX events_idempotency ON waymark.events (instance_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Published values: the latest value per (instance, key), and the workflow's step (seq) that
-- wrote it, so a step written again after a crash never overwrites a later one.
CREATE TABLE waymark.published (
  instance_id uuid        NOT NULL,
  key         text        NOT NULL,
  value       json        NOT NULL,
  seq         integer     NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (instance_id, key)
);

-- Appends a message to an instance's mailbox and wakes it: a sleeping instance becomes due now
-- (and the pollers hear 'queued'), a running one's supervisor hears 'event:<id>'. Returns
-- 'sent', 'duplicate' (the idempotency key was used for this instance: nothing stored),
-- 'not_found' or 'finished' (nothing stored). The row lock orders concurrent senders.
CREATE FUNCTION waymark.send_event(p_id uuid, p_name text, p_payload json, p_key text, p_child uuid DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text;
  pos integer;
BEGIN
  SELECT status INTO st FROM waymark.instances WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'not_found';
  END IF;
  IF p_key IS NOT NULL AND EXISTS (SELECT 1 FROM waymark.events WHERE instance_id = p_id AND idempotency_key = p_key) THEN
    RETURN 'duplicate';
  END IF;
  IF st IN ('completed', 'failed', 'cancelled') THEN
    RETURN 'finished';
  END IF;
  UPDATE waymark.instances
     SET events_sent = events_sent + 1,
         scheduled_at = CASE WHEN status = 'sleeping' THEN least(scheduled_at, now()) ELSE scheduled_at END
   WHERE id = p_id
  RETURNING events_sent INTO pos;
  INSERT INTO waymark.events (instance_id, position, name, payload, idempotency_key, child_id)
  VALUES (p_id, pos, p_name, p_payload, p_key, p_child);
  IF st = 'sleeping' THEN
    PERFORM pg_notify('waymark_work', 'queued');
  ELSIF st = 'running' THEN
    PERFORM pg_notify('waymark_work', 'event:' || p_id::text);
  END IF;
  RETURN 'sent';
END $$;

-- Cancels an instance: a queued or sleeping one here and now, a running one by flagging it for
-- its supervisor (woken by NOTIFY, or at its next heartbeat). Returns the status it had (NULL:
-- no such instance). The SDK, the CLI, the web app and a parent's end all cancel through it.
CREATE FUNCTION waymark.cancel_instance(p_id uuid, p_error json)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text;
BEGIN
  SELECT status INTO st FROM waymark.instances WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF st IN ('queued', 'sleeping') THEN
    UPDATE waymark.instances
       SET status = 'cancelled', finished_at = now(), error = p_error, state = NULL, updated_at = now()
     WHERE id = p_id;
    PERFORM pg_notify('waymark_done', p_id::text);
  ELSIF st = 'running' THEN
    UPDATE waymark.instances SET cancel_requested = true, updated_at = now() WHERE id = p_id;
    PERFORM pg_notify('waymark_work', 'cancel:' || p_id::text);
  END IF;
  RETURN st;
END $$;

-- A child the parent waits for has finished (however: its own write, a cancellation, the
-- crash-loop quarantine): its outcome goes to the parent's mailbox, which wakes the parent.
CREATE FUNCTION waymark.child_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM waymark.send_event(NEW.parent_id, 'child',
    json_build_object('status', NEW.status, 'workflow', NEW.workflow_name, 'result', NEW.result, 'error', NEW.error),
    'child:' || NEW.id::text, NEW.id);
  RETURN NULL;
END $$;

CREATE TRIGGER instances_child_finished AFTER UPDATE OF status ON waymark.instances
  FOR EACH ROW
  WHEN (NEW.parent_id IS NOT NULL AND NOT NEW.detached
        AND NEW.status IN ('completed', 'failed', 'cancelled') AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
  EXECUTE FUNCTION waymark.child_finished();

-- A parent has finished: the children it waited for and that still run are cancelled (a
-- detached child runs on).
CREATE FUNCTION waymark.parent_finished() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT id, workflow_name FROM waymark.instances
            WHERE parent_id = NEW.id AND NOT detached AND status NOT IN ('completed', 'failed', 'cancelled')
            ORDER BY id
  LOOP
    PERFORM waymark.cancel_instance(c.id, json_build_object(
      '$w', 'err', 'name', 'WorkflowCancelledError',
      'message', format('workflow %s (instance %s) was cancelled: its parent workflow %s (instance %s) ended %s', c.workflow_name, c.id, NEW.workflow_name, NEW.id, NEW.status),
      'fields', json_build_object('code', 'WAYMARK_WORKFLOW_CANCELLED', 'instanceId', c.id, 'workflowName', c.workflow_name)));
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER instances_parent_finished AFTER UPDATE OF status ON waymark.instances
  FOR EACH ROW
  WHEN (NEW.awaits_children AND NEW.status IN ('completed', 'failed', 'cancelled') AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
  EXECUTE FUNCTION waymark.parent_finished();

-- The effects of workflow steps that reach beyond the instance's own row: sends to other
-- instances, child starts, published values. Written by the supervisor after the state that made
-- them is durable, and written again after a crash, so each is idempotent: a send carries an
-- idempotency key, a child its id (and the caller's key), a publication its step. Returns one
-- row per effect: {"r": "sent"|"duplicate"|"not_found"|"finished"|"ok"|"no_version", "id"?}.
CREATE FUNCTION waymark.apply_effects(p_effects json)
RETURNS TABLE (src uuid, step integer, outcome json) LANGUAGE plpgsql AS $$
DECLARE
  e json;
  vid bigint;
  cid uuid;
BEGIN
  FOR e IN SELECT value FROM json_array_elements(p_effects) LOOP
    src := (e->>'i')::uuid;
    step := (e->>'s')::integer;
    IF e->>'t' = 'send' THEN
      outcome := json_build_object('r', waymark.send_event((e->>'to')::uuid, e->>'name', e->'payload', e->>'key'));
    ELSIF e->>'t' = 'publish' THEN
      INSERT INTO waymark.published AS p (instance_id, key, value, seq)
      VALUES (src, e->>'key', e->'value', step)
      ON CONFLICT (instance_id, key) DO UPDATE
        SET value = excluded.value, seq = excluded.seq, updated_at = now()
        WHERE p.seq <= excluded.seq;
      PERFORM pg_notify('waymark_done', 'published:' || src::text);
      outcome := json_build_object('r', 'ok');
    ELSE
      SELECT v.id INTO vid FROM waymark.workflow_versions v
       WHERE v.workflow_name = e->>'wf' ORDER BY v.registered_at DESC, v.id DESC LIMIT 1;
      IF vid IS NULL THEN
        outcome := json_build_object('r', 'no_version');
      ELSE
        INSERT INTO waymark.instances (id, workflow_name, version_id, status, args, idempotency_key, parent_id, parent_step, detached)
        VALUES ((e->>'id')::uuid, e->>'wf', vid, 'queued', e->'args', e->>'key', src, step, (e->>'d')::boolean)
        ON CONFLICT DO NOTHING
        RETURNING id INTO cid;
        IF cid IS NOT NULL THEN
          PERFORM pg_notify('waymark_work', 'queued');
        ELSE
          SELECT x.id INTO cid FROM waymark.instances x
           WHERE x.id = (e->>'id')::uuid
              OR (e->>'key' IS NOT NULL AND x.workflow_name = e->>'wf' AND x.idempotency_key = e->>'key')
           LIMIT 1;
        END IF;
        outcome := json_build_object('r', CASE WHEN cid IS NULL THEN 'retry' ELSE 'ok' END, 'id', cid);
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
