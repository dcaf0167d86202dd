/**
 * The example app: a tiny HTTP server that queues checkouts and reads them back. It never runs
 * a workflow itself: start() writes an instance to Postgres, and the workers (`waymark
 * supervise`, the other service of the same image) run it.
 *
 *   POST /checkouts          {"email": "...", "lines": [{"sku": "tea", "quantity": 2}]}
 *                            -> 202 {"instanceId": "..."}
 *   POST /checkouts?wait=1   the same, and waits for the result -> 200 {"instanceId", "result"}
 *   GET  /checkouts/<id>     -> 200 {"instanceId", "status", "result"?}
 *   GET  /healthz            -> 200 ok
 */
import http from "node:http";
import { close, isWaymarkError, WorkflowFailedError, WorkflowHandle } from "waymark";
import { CheckoutWorkflow, type Order } from "./workflows.js";

const PORT = Number(process.env.PORT ?? 8000);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function body(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1 << 20) throw new HttpError(413, "body over 1 MiB");
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "the body is not JSON");
  }
}

function order(value: unknown): Order {
  const o = value as Partial<Order> | null;
  const lineOk = (l: unknown) => {
    const line = l as { sku?: unknown; quantity?: unknown } | null;
    return typeof line?.sku === "string" && Number.isInteger(line.quantity) && (line.quantity as number) > 0;
  };
  if (typeof o?.email !== "string" || !Array.isArray(o.lines) || !o.lines.every(lineOk))
    throw new HttpError(400, 'expected {"email": string, "lines": [{"sku": string, "quantity": positive integer}]}');
  return { email: o.email, lines: o.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })) };
}

async function route(req: http.IncomingMessage): Promise<[number, unknown]> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method === "GET" && url.pathname === "/healthz") return [200, "ok"];
  if (req.method === "POST" && url.pathname === "/checkouts") {
    const handle = await new CheckoutWorkflow().start([order(await body(req))]);
    if (!url.searchParams.has("wait")) return [202, { instanceId: handle.instanceId }];
    return [200, { instanceId: handle.instanceId, result: await handle.result() }];
  }
  const match = /^\/checkouts\/([0-9a-f-]{36})$/.exec(url.pathname);
  if (req.method === "GET" && match) {
    const handle = new WorkflowHandle(match[1]!, CheckoutWorkflow.name);
    const status = await handle.status();
    return [200, { instanceId: handle.instanceId, status, ...(status === "completed" ? { result: await handle.result() } : {}) }];
  }
  throw new HttpError(404, `no route for ${req.method} ${url.pathname}`);
}

const server = http.createServer((req, res) => {
  route(req).then(
    ([status, payload]) => {
      res.writeHead(status, { "content-type": "application/json" }).end(`${JSON.stringify(payload)}\n`);
    },
    (e: unknown) => {
      const status =
        e instanceof HttpError ? e.status : e instanceof WorkflowFailedError ? 422 : isWaymarkError(e) && e.code === "WAYMARK_NOT_FOUND" ? 404 : 500;
      if (status === 500) console.error(e);
      res.writeHead(status, { "content-type": "application/json" }).end(`${JSON.stringify({ error: (e as Error).message })}\n`);
    },
  );
});

server.listen(PORT, () => console.log(`checkout server listening on :${PORT}`));

// `docker compose stop` sends SIGTERM: finish the requests in flight, then close waymark's connections.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.close(() => void close().then(() => process.exit(0)));
    server.closeIdleConnections();
  });
}
