/**
 * The web app's test harness: an in-process WebServer on a free loopback port, over a pool to
 * the test database, and a fetch that keeps nothing between calls.
 */
import pg from "pg";
import { createLogger, type Logger } from "../../log/logger.js";
import { poolCreate } from "../../store/db.js";
import { WebServer } from "../../web/server.js";

export interface TestWeb {
  server: WebServer;
  pool: pg.Pool;
  url: string;
  logs: string[];
  stop(): Promise<void>;
}

export async function webStart(p: { databaseUrl: string; token?: string; addr?: string; stats?: () => Record<string, unknown>; liveIntervalMs?: number }): Promise<TestWeb> {
  const pool = poolCreate({ connectionString: p.databaseUrl, max: 4 });
  const logs: string[] = [];
  const log: Logger = createLogger({ level: "info", component: "web", write: (line) => logs.push(line) });
  const server = new WebServer({
    db: pool,
    config: { webappAddr: p.addr ?? "127.0.0.1:0", webappToken: p.token, runnerProfileIntervalMs: 5000 },
    log,
    stats: p.stats,
    liveIntervalMs: p.liveIntervalMs ?? 100,
  });
  await server.start();
  return {
    server,
    pool,
    url: server.url,
    logs,
    async stop() {
      await server.stop();
      await pool.end();
    },
  };
}

/** A request that follows no redirect (so the tests see them). */
export function call(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { redirect: "manual", ...init });
}

export async function getJson<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const r = await call(url, init);
  return { status: r.status, body: (await r.json()) as T };
}
