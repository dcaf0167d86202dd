import test from "ava";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { createLogger } from "../../log/logger.js";

test("JSON log lines carry the trace and span ids of the span active where they are written, and none outside one", (t) => {
  const lines: string[] = [];
  const log = createLogger({ format: "json", write: (l) => lines.push(l) });
  log.info("outside");
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const tracer = new BasicTracerProvider().getTracer("test");
  const span = tracer.startSpan("work");
  context.with(trace.setSpan(context.active(), span), () => log.info("inside", { n: 1 }));
  span.end();
  const [outside, inside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.false("traceId" in outside!);
  t.like(inside, { message: "inside", n: 1, traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
  // The text format stays as it was.
  const text: string[] = [];
  createLogger({ write: (l) => text.push(l) }).info("plain");
  t.regex(text[0]!, /INFO {2}\[waymark\] plain$/);
});
