-- Flow control: cluster-wide concurrency and rate limits for actions, per key.

-- A concurrency slot held by a running attempt (by its token, instance/seq/attempt). The holder's
-- supervisor refreshes expires_at while it lives; a dead supervisor's slots expire within the
-- lease TTL and count no more.
CREATE TABLE waymark.action_slots (
  token       text        PRIMARY KEY,
  action_name text        NOT NULL,
  limit_key   text        NOT NULL,
  instance_id uuid        NOT NULL,
  owner       text        NOT NULL,
  since       timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX action_slots_group ON waymark.action_slots (action_name, limit_key);
CREATE INDEX action_slots_owner ON waymark.action_slots (owner);

-- The starts a rate limit counts: one row per attempt start (granted), kept a minute past its
-- window so that an operator can look back.
CREATE TABLE waymark.action_starts (
  action_name text        NOT NULL,
  limit_key   text        NOT NULL,
  started_at  timestamptz NOT NULL,
  period_ms   integer     NOT NULL
);
CREATE INDEX action_starts_group ON waymark.action_starts (action_name, limit_key, started_at);

-- Calls waiting for their limit: what `waymark instances show`, the web app and `waymark status`
-- show ("waiting for the concurrency limit of callPartner, key t-42, since ...").
CREATE TABLE waymark.action_waits (
  token       text        PRIMARY KEY,
  action_name text        NOT NULL,
  limit_key   text        NOT NULL,
  instance_id uuid        NOT NULL,
  owner       text        NOT NULL,
  blocked_by  text        NOT NULL CHECK (blocked_by IN ('concurrency', 'rate')),
  since       timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX action_waits_instance ON waymark.action_waits (instance_id);

-- One supervisor's exchange with the limits, in one statement: gives back the slots of the
-- attempts that ended (p_release), refreshes what it holds, and asks, per (action, key), for
-- slots for its waiting calls in the order they became ready. Each group is decided under its
-- advisory lock, taken in (action, key) order so that exchanges never wait on each other in a
-- cycle: expired slots are dropped, then the calls granted are as many as the concurrency left
-- and the starts left in the rate window allow. Returns, per group, how many of its first calls
-- were granted, and for a group the rate window blocks, when its next start frees.
CREATE FUNCTION waymark.slots_exchange(p_owner text, p_ttl_ms integer, p_release text[], p_requests json, p_freed json DEFAULT '[]', p_handoffs json DEFAULT '[]')
RETURNS TABLE (action_name text, limit_key text, granted text[], next_free timestamptz) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  r json;
  ts timestamptz;
  ttl interval := p_ttl_ms * interval '1 millisecond';
  n_wait integer;
  n_already integer;
  n_free integer;
  n_held integer;
  n_started integer;
  conc integer;
  lim integer;
  period interval;
  a text;
  k text;
  already text[];
  fresh text[];
BEGIN
  -- Slots this supervisor handed from an ended attempt to its next waiting call of the same
  -- (action, key) without asking (the count never changed): the row follows the new holder.
  WITH h AS (
    SELECT x->>'from' AS old, x->>'to' AS new, (x->>'i')::uuid AS instance_id, x->>'a' AS a, x->>'k' AS k FROM json_array_elements(p_handoffs) AS x
  ), granted AS (
    -- An exchange granted the new holder its own slot meanwhile: the old one is simply freed.
    DELETE FROM waymark.action_slots s USING h
     WHERE s.token = h.old AND EXISTS (SELECT 1 FROM waymark.action_slots n WHERE n.token = h.new)
    RETURNING h.new
  ), moved AS (
    UPDATE waymark.action_slots s SET token = h.new, instance_id = h.instance_id, since = clock_timestamp()
      FROM h WHERE s.token = h.old AND NOT EXISTS (SELECT 1 FROM waymark.action_slots n WHERE n.token = h.new)
    RETURNING h.new
  ), lost AS (
    -- The old row expired meanwhile (this supervisor stalled past the TTL): the running call counts again.
    INSERT INTO waymark.action_slots (token, action_name, limit_key, instance_id, owner, expires_at)
    SELECT h.new, h.a, h.k, h.instance_id, p_owner, clock_timestamp() + ttl FROM h
     WHERE h.new NOT IN (SELECT new FROM moved) AND h.new NOT IN (SELECT new FROM granted)
    ON CONFLICT (token) DO NOTHING
  )
  DELETE FROM waymark.action_waits w USING h WHERE w.token = h.new;
  -- Then the releases (a call handed a slot above may have ended since).
  IF coalesce(array_length(p_release, 1), 0) > 0 THEN
    DELETE FROM waymark.action_slots s WHERE s.token = ANY (p_release);
    DELETE FROM waymark.action_waits w WHERE w.token = ANY (p_release);
  END IF;
  UPDATE waymark.action_slots s SET expires_at = clock_timestamp() + ttl WHERE s.owner = p_owner;
  UPDATE waymark.action_waits w SET expires_at = clock_timestamp() + ttl WHERE w.owner = p_owner;
  FOR r IN SELECT value FROM json_array_elements(p_requests) ORDER BY value->>'a', value->>'k' LOOP
    a := r->>'a';
    k := r->>'k';
    PERFORM pg_advisory_xact_lock(hashtext(a), hashtext(k));
    ts := clock_timestamp();
    DELETE FROM waymark.action_slots s WHERE s.action_name = a AND s.limit_key = k AND s.expires_at < ts;
    DELETE FROM waymark.action_waits w WHERE w.action_name = a AND w.limit_key = k AND w.expires_at < ts;
    n_wait := json_array_length(r->'w');
    conc := (r->>'c')::integer;
    lim := (r->>'l')::integer;
    -- The window is held with a margin (a tenth of the period, at most 250 ms) for the time
    -- between a grant and the attempt's start in its child.
    period := ((r->>'p')::integer + least(250, (r->>'p')::integer / 10)) * interval '1 millisecond';
    -- Calls that already hold a slot (an exchange asked again after its reply was lost) are granted.
    SELECT coalesce(array_agg(s.token), '{}') INTO already FROM waymark.action_slots s
     WHERE s.token IN (SELECT x->>'t' FROM json_array_elements(r->'w') AS x);
    n_already := coalesce(array_length(already, 1), 0);
    n_free := n_wait - n_already;
    IF conc IS NOT NULL THEN
      SELECT count(*) INTO n_held FROM waymark.action_slots s WHERE s.action_name = a AND s.limit_key = k;
      n_free := least(n_free, greatest(0, conc - n_held));
    END IF;
    next_free := NULL;
    IF lim IS NOT NULL THEN
      DELETE FROM waymark.action_starts st WHERE st.action_name = a AND st.limit_key = k AND st.started_at <= ts - period - interval '1 minute';
      SELECT count(*) INTO n_started FROM waymark.action_starts st WHERE st.action_name = a AND st.limit_key = k AND st.started_at > ts - period;
      IF n_started + n_free > lim THEN
        n_free := greatest(0, lim - n_started);
      END IF;
      IF n_free < n_wait - n_already THEN
        -- The start that leaves the window next makes room for the next call.
        SELECT st.started_at + period INTO next_free FROM waymark.action_starts st
         WHERE st.action_name = a AND st.limit_key = k AND st.started_at > ts - period
         ORDER BY st.started_at OFFSET greatest(0, n_started + n_free - lim) LIMIT 1;
      END IF;
      INSERT INTO waymark.action_starts (action_name, limit_key, started_at, period_ms)
      SELECT a, k, ts, (r->>'p')::integer FROM generate_series(1, n_free);
    END IF;
    -- The first n_free calls not yet holding a slot are granted; the rest wait, on record.
    SELECT coalesce(array_agg(x->>'t' ORDER BY o), '{}') INTO fresh
      FROM json_array_elements(r->'w') WITH ORDINALITY AS e(x, o)
     WHERE NOT ((x->>'t') = ANY (already));
    WITH w AS (
      SELECT t AS token, (SELECT (x->>'i')::uuid FROM json_array_elements(r->'w') AS x WHERE x->>'t' = t LIMIT 1) AS instance_id, n
        FROM unnest(fresh) WITH ORDINALITY AS f(t, n)
    ), slots AS (
      INSERT INTO waymark.action_slots (token, action_name, limit_key, instance_id, owner, expires_at)
      SELECT w.token, a, k, w.instance_id, p_owner, clock_timestamp() + ttl FROM w WHERE w.n <= n_free AND conc IS NOT NULL
      ON CONFLICT (token) DO NOTHING
    ), gone AS (
      DELETE FROM waymark.action_waits aw USING w WHERE aw.token = w.token AND w.n <= n_free
    )
    INSERT INTO waymark.action_waits (token, action_name, limit_key, instance_id, owner, blocked_by, expires_at)
    SELECT w.token, a, k, w.instance_id, p_owner,
           CASE WHEN conc IS NOT NULL AND n_held >= conc THEN 'concurrency' ELSE 'rate' END, clock_timestamp() + ttl
      FROM w WHERE w.n > n_free
    ON CONFLICT (token) DO UPDATE SET blocked_by = excluded.blocked_by, expires_at = excluded.expires_at;
    action_name := a;
    limit_key := k;
    granted := already || fresh[1:n_free];
    RETURN NEXT;
  END LOOP;
  -- Slots freed here and not taken again by this supervisor's own calls: the others' waiting
  -- calls ask now (a freed slot this supervisor reused wakes nobody: no exchange storm).
  IF EXISTS (
    SELECT 1 FROM json_array_elements(p_freed) AS f
     WHERE (SELECT count(*) FROM waymark.action_slots s WHERE s.action_name = f->>'a' AND s.limit_key = f->>'k') < (f->>'c')::integer
       AND EXISTS (SELECT 1 FROM waymark.action_waits w WHERE w.action_name = f->>'a' AND w.limit_key = f->>'k' AND w.owner <> p_owner)
  ) THEN
    PERFORM pg_notify('waymark_work', 'slots');
  END IF;
END $$;
