-- Flow control, first come first served across the cluster: the calls waiting for an (action,
-- key) form one queue, whatever supervisor owns them, and a freed slot (or start) goes to the
-- head of that queue. A call another supervisor's exchange granted is marked 'granted' on its
-- wait row (and holds its slot) until its owner takes it: at once, by the NOTIFY
-- `grant <owner> <tokens>`, or at its next exchange.
--
-- No deadlock: an exchange takes the advisory locks of every (action, key) group it will touch,
-- in one order, before it changes a row, and changes only the rows of those groups. Liveness is
-- kept per owner (waymark.action_owners, which only its owner writes) rather than per row, so
-- that refreshing what a supervisor holds touches no row another exchange may be changing.

CREATE TABLE waymark.action_owners (
  owner      text        PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
ALTER TABLE waymark.action_slots DROP COLUMN expires_at;
ALTER TABLE waymark.action_waits DROP COLUMN expires_at;
ALTER TABLE waymark.action_waits ADD COLUMN seq bigserial;
ALTER TABLE waymark.action_waits DROP CONSTRAINT action_waits_blocked_by_check;
ALTER TABLE waymark.action_waits ADD CONSTRAINT action_waits_blocked_by_check CHECK (blocked_by IN ('concurrency', 'rate', 'granted'));
CREATE INDEX action_waits_queue ON waymark.action_waits (action_name, limit_key, seq);
CREATE INDEX action_waits_owner ON waymark.action_waits (owner);

DROP FUNCTION waymark.slots_exchange(text, integer, text[], json, json, json);

-- One supervisor's exchange with the limits, in one statement: records the slots it handed in
-- memory, gives back the slots of the attempts that ended (p_release), forgets the waits of the
-- calls it took by notification (p_taken), refreshes what it holds (its row in action_owners),
-- and then, per (action, key) it asks for or freed a slot of, grants the head of the cluster's
-- queue as much as the concurrency left and the starts left in the rate window allow. The limits are the asking supervisor's (p_limits: {action: {c, l, p}}). Returns, per
-- group: this owner's calls granted; for a group the rate window blocks, when its next start
-- frees; and how many of this owner's calls lead the queue (ahead of every other supervisor's):
-- it may hand a slot from an ended attempt to those in memory, without asking.
CREATE FUNCTION waymark.slots_exchange(p_owner text, p_ttl_ms integer, p_release text[], p_taken text[], p_limits json, p_requests json, p_handoffs json)
RETURNS TABLE (action_name text, limit_key text, granted text[], next_free timestamptz, head integer) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  ts timestamptz;
  ttl interval := p_ttl_ms * interval '1 millisecond';
  w json;
  lims json;
  n_new integer;
  n_queue integer;
  n_free integer;
  n_held integer;
  n_started integer;
  conc integer;
  lim integer;
  period interval;
  a text;
  k text;
  freed_a text[] := '{}';
  freed_k text[] := '{}';
  already text[];
  mine text[];
  theirs json;
  told text;
  dest text;
  g record;
BEGIN
  ts := clock_timestamp();
  -- Supervisors gone for a day are forgotten (skipping any row another exchange is on).
  DELETE FROM waymark.action_owners o WHERE o.owner IN (
    SELECT d.owner FROM waymark.action_owners d WHERE d.expires_at < ts - interval '1 day' FOR UPDATE SKIP LOCKED
  );
  INSERT INTO waymark.action_owners AS o (owner, expires_at) VALUES (p_owner, ts + ttl)
  ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at;
  -- Every group this exchange touches, locked first, in one order.
  FOR g IN
    SELECT DISTINCT q.a, q.k, hashtext(q.a) AS ha, hashtext(q.k) AS hk FROM (
      SELECT r->>'a' AS a, r->>'k' AS k FROM json_array_elements(p_requests) AS r
      UNION SELECT x->>'a', x->>'k' FROM json_array_elements(p_handoffs) AS x
      UNION SELECT s.action_name, s.limit_key FROM waymark.action_slots s WHERE s.token = ANY (p_release)
      UNION SELECT aw.action_name, aw.limit_key FROM waymark.action_waits aw WHERE aw.token = ANY (p_release) OR aw.token = ANY (p_taken)
    ) q ORDER BY ha, hk, q.a, q.k
  LOOP
    PERFORM pg_advisory_xact_lock(g.ha, g.hk);
  END LOOP;
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
    INSERT INTO waymark.action_slots (token, action_name, limit_key, instance_id, owner)
    SELECT h.new, h.a, h.k, h.instance_id, p_owner FROM h
     WHERE h.new NOT IN (SELECT new FROM moved) AND h.new NOT IN (SELECT new FROM granted)
    ON CONFLICT (token) DO NOTHING
  )
  DELETE FROM waymark.action_waits w USING h WHERE w.token = h.new;
  -- Then the releases (a call handed a slot above may have ended since): the groups of the
  -- slots freed are decided below, so that the head of their queue gets them now.
  IF coalesce(array_length(p_release, 1), 0) > 0 THEN
    WITH d AS (DELETE FROM waymark.action_slots s WHERE s.token = ANY (p_release) RETURNING s.action_name, s.limit_key)
    SELECT coalesce(array_agg(d.action_name), '{}'), coalesce(array_agg(d.limit_key), '{}') INTO freed_a, freed_k FROM d;
    DELETE FROM waymark.action_waits w WHERE w.token = ANY (p_release);
  END IF;
  IF coalesce(array_length(p_taken, 1), 0) > 0 THEN
    DELETE FROM waymark.action_waits w WHERE w.token = ANY (p_taken) AND w.blocked_by = 'granted';
  END IF;
  FOR g IN
    SELECT q.a, q.k FROM (
      SELECT r->>'a' AS a, r->>'k' AS k FROM json_array_elements(p_requests) AS r
      UNION SELECT f.a, f.k FROM unnest(freed_a, freed_k) AS f(a, k)
    ) q WHERE p_limits->q.a IS NOT NULL ORDER BY hashtext(q.a), hashtext(q.k), q.a, q.k
  LOOP
    a := g.a;
    k := g.k;
    w := coalesce((SELECT r->'w' FROM json_array_elements(p_requests) AS r WHERE r->>'a' = a AND r->>'k' = k LIMIT 1), '[]'::json);
    lims := p_limits->a;
    conc := (lims->>'c')::integer;
    lim := (lims->>'l')::integer;
    ts := clock_timestamp();
    -- What supervisors that stopped refreshing held, or waited for, counts no more.
    DELETE FROM waymark.action_slots s WHERE s.action_name = a AND s.limit_key = k
       AND NOT EXISTS (SELECT 1 FROM waymark.action_owners o WHERE o.owner = s.owner AND o.expires_at >= ts);
    DELETE FROM waymark.action_waits aw WHERE aw.action_name = a AND aw.limit_key = k
       AND NOT EXISTS (SELECT 1 FROM waymark.action_owners o WHERE o.owner = aw.owner AND o.expires_at >= ts);
    -- This owner's calls granted already (by another supervisor's exchange, or by an earlier
    -- exchange whose reply was lost) are taken now.
    SELECT coalesce(array_agg(t), '{}') INTO already FROM (
      SELECT x->>'t' AS t FROM json_array_elements(w) AS x WHERE EXISTS (SELECT 1 FROM waymark.action_slots s WHERE s.token = x->>'t')
      UNION
      SELECT aw.token FROM waymark.action_waits aw WHERE aw.action_name = a AND aw.limit_key = k AND aw.owner = p_owner AND aw.blocked_by = 'granted'
    ) AS g;
    IF array_length(already, 1) > 0 THEN
      DELETE FROM waymark.action_waits aw WHERE aw.token = ANY (already);
    END IF;
    -- The queue: the calls on record (oldest first), then this owner's calls new to it (w holds
    -- the calls not yet on record, or all of them now and then, in case a stall let a wait expire).
    SELECT count(*) INTO n_queue FROM waymark.action_waits aw WHERE aw.action_name = a AND aw.limit_key = k AND aw.blocked_by <> 'granted';
    SELECT count(*) INTO n_new FROM json_array_elements(w) AS x
     WHERE NOT ((x->>'t') = ANY (already)) AND NOT EXISTS (SELECT 1 FROM waymark.action_waits aw WHERE aw.token = x->>'t');
    n_queue := n_queue + n_new;
    n_free := n_queue;
    n_held := 0;
    IF conc IS NOT NULL THEN
      SELECT count(*) INTO n_held FROM waymark.action_slots s WHERE s.action_name = a AND s.limit_key = k;
      n_free := least(n_free, greatest(0, conc - n_held));
    END IF;
    next_free := NULL;
    IF lim IS NOT NULL THEN
      -- The window is held with a margin (a tenth of the period, at most 250 ms) for the time
      -- between a grant and the attempt's start in its child.
      period := ((lims->>'p')::integer + least(250, (lims->>'p')::integer / 10)) * interval '1 millisecond';
      DELETE FROM waymark.action_starts st WHERE st.action_name = a AND st.limit_key = k AND st.started_at <= ts - period - interval '1 minute';
      SELECT count(*) INTO n_started FROM waymark.action_starts st WHERE st.action_name = a AND st.limit_key = k AND st.started_at > ts - period;
      IF n_started + n_free > lim THEN
        n_free := greatest(0, lim - n_started);
      END IF;
      IF n_free < n_queue THEN
        -- The start that leaves the window next makes room for the next call.
        SELECT st.started_at + period INTO next_free FROM waymark.action_starts st
         WHERE st.action_name = a AND st.limit_key = k AND st.started_at > ts - period
         ORDER BY st.started_at OFFSET greatest(0, n_started + n_free - lim) LIMIT 1;
      END IF;
      INSERT INTO waymark.action_starts (action_name, limit_key, started_at, period_ms)
      SELECT a, k, ts, (lims->>'p')::integer FROM generate_series(1, n_free);
    END IF;
    -- The first n_free of the queue are granted: this owner's start now; the others' are marked
    -- granted (their slots held for them) and their owners told. The rest wait, on record.
    WITH q AS (
      (SELECT aw.token, aw.owner, aw.instance_id, 0 AS src, aw.seq AS o FROM waymark.action_waits aw
        WHERE aw.action_name = a AND aw.limit_key = k AND aw.blocked_by <> 'granted' ORDER BY aw.seq LIMIT n_free)
      UNION ALL
      SELECT x->>'t', p_owner, (x->>'i')::uuid, 1, o FROM json_array_elements(w) WITH ORDINALITY AS e(x, o)
       WHERE NOT ((x->>'t') = ANY (already)) AND NOT EXISTS (SELECT 1 FROM waymark.action_waits aw WHERE aw.token = x->>'t')
    ), ranked AS (
      SELECT q.*, row_number() OVER (ORDER BY q.src, q.o) AS n FROM q
    ), slots AS (
      INSERT INTO waymark.action_slots (token, action_name, limit_key, instance_id, owner)
      SELECT r.token, a, k, r.instance_id, r.owner FROM ranked r WHERE r.n <= n_free AND conc IS NOT NULL
      ON CONFLICT (token) DO NOTHING
    ), taken AS (
      DELETE FROM waymark.action_waits aw USING ranked r WHERE aw.token = r.token AND r.src = 0 AND r.n <= n_free AND r.owner = p_owner
    ), theirs AS (
      UPDATE waymark.action_waits aw SET blocked_by = 'granted' FROM ranked r
       WHERE aw.token = r.token AND r.src = 0 AND r.n <= n_free AND r.owner <> p_owner
      RETURNING aw.owner, aw.token
    ), waits AS (
      INSERT INTO waymark.action_waits (token, action_name, limit_key, instance_id, owner, blocked_by)
      SELECT r.token, a, k, r.instance_id, p_owner, 'rate' FROM ranked r WHERE r.src = 1 AND r.n > n_free ORDER BY r.n
      ON CONFLICT (token) DO NOTHING
    )
    SELECT (SELECT coalesce(array_agg(r.token ORDER BY r.n), '{}') FROM ranked r WHERE r.n <= n_free AND r.owner = p_owner),
           (SELECT coalesce(json_agg(json_build_object('o', t.owner, 't', t.token)), '[]') FROM theirs t)
      INTO mine, theirs;
    -- Their owners are told (a notification's payload holds under 8000 bytes: with more tokens,
    -- the owner asks at its next exchange).
    FOR dest, told IN SELECT x->>'o', string_agg(x->>'t', ',') FROM json_array_elements(theirs) AS x GROUP BY 1 LOOP
      PERFORM pg_notify('waymark_work', CASE WHEN length(told) < 7000 THEN 'grant ' || dest || ' ' || told ELSE 'grant ' || dest END);
    END LOOP;
    -- What the rest wait for.
    UPDATE waymark.action_waits aw SET blocked_by = CASE WHEN conc IS NOT NULL AND n_held + n_free >= conc THEN 'concurrency' ELSE 'rate' END
     WHERE aw.action_name = a AND aw.limit_key = k AND aw.blocked_by <> 'granted'
       AND aw.blocked_by <> CASE WHEN conc IS NOT NULL AND n_held + n_free >= conc THEN 'concurrency' ELSE 'rate' END;
    -- How many of this owner's calls lead the queue now: it may hand them slots in memory.
    SELECT count(*) INTO head FROM waymark.action_waits aw
     WHERE aw.action_name = a AND aw.limit_key = k AND aw.owner = p_owner AND aw.blocked_by <> 'granted'
       AND aw.seq < coalesce((SELECT min(f.seq) FROM waymark.action_waits f
                               WHERE f.action_name = a AND f.limit_key = k AND f.owner <> p_owner AND f.blocked_by <> 'granted'), 9223372036854775807);
    action_name := a;
    limit_key := k;
    granted := already || mine;
    RETURN NEXT;
  END LOOP;
END $$;
