/**
 * Trace context through `@opentelemetry/api`, carried as a W3C `traceparent` string: on the
 * instance row (the caller's span when it started the instance), and on each task sent to a
 * child (the instance span). Without a registered SDK there is no valid span context, nothing
 * is carried, and nothing is recorded.
 */
import { type Context, context, isSpanContextValid, ROOT_CONTEXT, trace, type Tracer } from "@opentelemetry/api";

/** The traceparent of the span active in `ctx` (the current context by default), if any. */
export function traceparentOf(ctx: Context = context.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/** A context whose (remote) parent span is the one `traceparent` names; undefined for anything else. */
export function contextOf(traceparent: string | null | undefined): Context | undefined {
  const m = traceparent ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent) : null;
  if (!m) return undefined;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: m[1]!, spanId: m[2]!, traceFlags: Number.parseInt(m[3]!, 16), isRemote: true });
}

/** waymark's tracer (the API's no-op until an SDK is registered). */
export function tracer(): Tracer {
  return trace.getTracer("waymark");
}
