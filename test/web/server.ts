/**
 * The web app's test harness: an in-process WebServer on a free loopback port, over a pool to
 * the test database, and a fetch that keeps nothing between calls.
 */
import http from "node:http";
import type pg from "pg";
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

export async function webStart(p: {
  databaseUrl: string;
  token?: string;
  addr?: string;
  insecure?: boolean;
  allowedHosts?: string[];
  stats?: () => Record<string, unknown>;
  liveIntervalMs?: number;
  chartRefreshMs?: number;
}): Promise<TestWeb> {
  const pool = poolCreate({ connectionString: p.databaseUrl, max: 4 });
  const logs: string[] = [];
  const log: Logger = createLogger({ level: "info", component: "web", write: (line) => logs.push(line) });
  const server = new WebServer({
    db: pool,
    config: {
      webappAddr: p.addr ?? "127.0.0.1:0",
      webappToken: p.token,
      webappInsecure: p.insecure,
      webappAllowedHosts: p.allowedHosts,
      runnerProfileIntervalMs: 5000,
    },
    log,
    stats: p.stats,
    liveIntervalMs: p.liveIntervalMs ?? 100,
    chartRefreshMs: p.chartRefreshMs,
  });
  try {
    await server.start();
  } catch (e) {
    await server.stop();
    await pool.end();
    throw e;
  }
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

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A request through node:http, which sends the path and the Host header as given (fetch()
 * normalises the path and sets Host itself).
 */
export function rawRequest(base: string, p: { path: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: p.method ?? "GET", path: p.path, headers: p.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(p.body);
  });
}
