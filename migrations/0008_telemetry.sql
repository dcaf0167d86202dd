-- Observability: the W3C trace context (traceparent) of the span active when the app started an
-- instance, so that its instance span and action spans join the caller's trace; and an action
-- attempt's latest progress (actionContext().progress), carried to its retries.
ALTER TABLE waymark.instances ADD COLUMN trace_context text;
ALTER TABLE waymark.action_attempts ADD COLUMN progress json;
