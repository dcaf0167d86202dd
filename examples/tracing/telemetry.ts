/**
 * The OpenTelemetry set-up of the app, the supervisor and its children: spans are printed to
 * stdout when they end. Load it in your app (import it first) and in waymark with
 * WAYMARK_TELEMETRY_MODULE=examples/tracing/telemetry.ts. A real deployment would use
 * @opentelemetry/sdk-node with an OTLP exporter instead.
 */
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] }));
