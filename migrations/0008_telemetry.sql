-- Observability: the W3C trace context (traceparent) of the span active when the app started an
-- instance, so that its instance span and action spans join the caller's trace; and an action
-- attempt's latest progress (actionContext().progress), carried to its retries.
ALTER TABLE waymark.instances ADD COLUMN trace_context text;
ALTER TABLE waymark.action_attempts ADD COLUMN progress json;

-- A child workflow joins its parent's trace (the span that started the parent is its parent too).
CREATE FUNCTION waymark.instances_child_trace() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT p.trace_context INTO NEW.trace_context FROM waymark.instances p WHERE p.id = NEW.parent_id;
  RETURN NEW;
END $$;
CREATE TRIGGER instances_child_trace BEFORE INSERT ON waymark.instances
  FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL AND NEW.trace_context IS NULL) EXECUTE FUNCTION waymark.instances_child_trace();
