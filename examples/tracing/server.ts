/**
 * An HTTP server whose request span parents the workflow it starts: the trace goes from
 * `GET /signup` to the instance span in the supervisor and to each action's span in its child.
 *
 *   npm run build
 *   WAYMARK_USER_MODULE=examples/tracing/workflows.ts WAYMARK_TELEMETRY_MODULE=examples/tracing/telemetry.ts node dist/cli/main.js supervise
 *   node --import ./dist/loader/register.js examples/tracing/server.ts   # then: curl localhost:3000/signup
 */
import "./telemetry.js";
import http from "node:http";
import { SpanKind, trace } from "@opentelemetry/api";
import { Signup } from "./workflows.js";

const tracer = trace.getTracer("example-server");

http
  .createServer((req, res) => {
    void tracer.startActiveSpan(`${req.method} ${req.url}`, { kind: SpanKind.SERVER }, async (span) => {
      try {
        const result = await new Signup().run("ada@example.com");
        res.end(`${result} (trace ${span.spanContext().traceId})\n`);
      } catch (e) {
        res.statusCode = 500;
        res.end(`${(e as Error).message}\n`);
      } finally {
        span.end();
      }
    });
  })
  .listen(3000, () => console.log("GET http://localhost:3000/signup"));
