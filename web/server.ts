import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import type pg from "pg";
import type { WaymarkConfig } from "../config/env.js";
import type { Logger } from "../log/logger.js";
import type { WorkerStatus } from "../store/workers.js";
import type { SupervisorEvents } from "../core/events.js";
import { ApiError } from "./api.js";
import { instanceView, webData, type WebData } from "./data.js";
import { html, layout } from "./html.js";
import { LiveHub } from "./live.js";
import { instanceUpdate } from "./pages/instance.js";
import { routeFind, type Reply } from "./routes.js";
import {
  addrHost,
  exposureCheck,
  hostAllowed,
  hostPolicy,
  isWildcard,
  requestToken,
  safeRedirect,
  sameOrigin,
  SECURITY_HEADERS,
  tokenCookie,
  tokenMatches,
} from "./security.js";

/**
 * The web app: node:http, server-rendered pages, a JSON API and server-sent events, on
 * WAYMARK_WEBAPP_ADDR. Served by `waymark supervise` (WAYMARK_WEBAPP_ENABLED) or on its own by
 * `waymark web`. A service: start()/stop(); stop() is safe before start() and twice. start()
 * throws ConfigError, before listening, on a non-loopback address without a token (unless
 * `webappInsecure`) or a blank token.
 */
export interface WebServerOptions {
  db: pg.Pool;
  config: Pick<WaymarkConfig, "webappAddr" | "webappToken" | "runnerProfileIntervalMs"> & Partial<Pick<WaymarkConfig, "webappInsecure" | "webappAllowedHosts">>;
  log: Logger;
  /** The supervisor's lifecycle events: they wake the live view early. */
  events?: SupervisorEvents;
  /** The serving supervisor's counters (shaped like Supervisor.stats()). */
  stats?: () => Record<string, unknown>;
  /** How often the live view looks for news. @default 500 */
  liveIntervalMs?: number;
  /** How often the workers page's charts ask for new samples (one is written every 10 s). @default 10000 */
  chartRefreshMs?: number;
}

const MAX_BODY = 1024 * 1024;

export class WebServer {
  private server: http.Server | undefined;
  private readonly data: WebData;
  private readonly live: LiveHub;
  private readonly startedAt = new Date();
  private readonly wake = () => this.live.wake();
  private stopping: Promise<void> | undefined;
  /** The names the Host header may give (undefined: any), fixed at start(). */
  private hosts: Set<string> | undefined;
  /** http://host:port once listening. */
  url = "";

  constructor(private readonly options: WebServerOptions) {
    this.data = webData({ db: options.db, log: options.log });
    this.live = new LiveHub({
      db: options.db,
      log: options.log,
      intervalMs: options.liveIntervalMs,
      load: async (id) => {
        const v = await instanceView(this.data, id);
        return v ? instanceUpdate(v) : undefined;
      },
    });
  }

  /** Live-view streams open now (each polls until it ends or its client leaves). */
  get liveClients(): number {
    return this.live.clients;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const { webappAddr: addr, webappToken: token, webappInsecure: insecure, webappAllowedHosts: allowedHosts } = this.options.config;
    const { warnings } = exposureCheck({ addr, token, insecure });
    const host = addrHost(addr);
    this.hosts = hostPolicy({ bindHost: host, token, allowedHosts });
    const port = Number(/:(\d+)$/.exec(addr)?.[1] ?? "24119");
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, isWildcard(host) ? undefined : host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (e) => this.options.log.error("web server error", { error: e }));
    this.server = server;
    const a = server.address() as AddressInfo;
    const shown = a.family === "IPv6" ? `[${a.address}]` : a.address;
    this.url = `http://${isWildcard(host) ? "127.0.0.1" : shown}:${a.port}`;
    this.live.start();
    this.options.events?.on("instance.finished", this.wake);
    this.options.events?.on("action.failed", this.wake);
    this.options.events?.on("instance.started", this.wake);
    for (const w of warnings) this.options.log.warn(w, { addr });
    this.options.log.info("web app listening", {
      url: `http://${shown}:${a.port}`,
      token: token ? "required" : "none",
      hosts: this.hosts ? [...this.hosts].join(",") || "loopback only" : "any",
    });
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.options.events?.off("instance.finished", this.wake);
    this.options.events?.off("action.failed", this.wake);
    this.options.events?.off("instance.started", this.wake);
    await this.live.stop();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      // Open streams and slow clients end now: stop() returns only when fully stopped.
      setTimeout(() => server.closeAllConnections(), 1_000).unref();
    });
  }

  private local(): WorkerStatus | undefined {
    if (!this.options.stats) return undefined;
    const stats = this.options.stats();
    return { owner: String(stats.owner ?? "this process"), hostname: os.hostname(), pid: process.pid, startedAt: this.startedAt, updatedAt: new Date(), stats };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const isApi = (req.url ?? "").startsWith("/api/");
    try {
      const url = requestUrl(req.url);
      const host = hostAllowed(req, this.hosts);
      if (!host.ok) {
        throw new ApiError(
          421,
          `this server does not answer to the name ${JSON.stringify(host.name.slice(0, 100))} (a guard against DNS rebinding): add it to WAYMARK_WEBAPP_ALLOWED_HOSTS, or use the server's own address`,
        );
      }
      const token = this.options.config.webappToken;
      if (token) {
        const given = url.searchParams.get("token");
        if (given !== null && req.method === "GET" && tokenMatches(given, token)) {
          // The token moves from the address bar into a cookie the browser sends from now on.
          url.searchParams.delete("token");
          res.setHeader("Set-Cookie", tokenCookie(token));
          return this.send(res, req, { kind: "redirect", to: safeRedirect(url.pathname + url.search) });
        }
        if (!tokenMatches(requestToken(req), token)) {
          res.setHeader("WWW-Authenticate", 'Bearer realm="waymark"');
          throw new ApiError(401, "a token is required: send Authorization: Bearer <token>, or open /?token=<token> once in the browser");
        }
      }
      const { route, params, allowed, problem } = routeFind(req.method ?? "GET", url.pathname);
      if (problem) throw new ApiError(400, problem);
      if (!route) {
        if (allowed.length) {
          res.setHeader("Allow", allowed.join(", "));
          throw new ApiError(405, `${req.method} is not allowed here (allowed: ${allowed.join(", ")})`);
        }
        throw new ApiError(404, `no page ${url.pathname}`);
      }
      let form: URLSearchParams | undefined;
      let body = "";
      if (route.method === "POST") {
        const check = sameOrigin(req);
        if (!check.ok) throw new ApiError(403, check.reason);
        body = await readBody(req);
        if ((req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) form = new URLSearchParams(body);
      }
      const reply = await route.handle({
        data: this.data,
        live: this.live,
        req,
        res,
        url,
        params,
        body,
        local: () => this.local(),
        staleMs: Math.max(15_000, this.options.config.runnerProfileIntervalMs * 3),
        chartRefreshMs: this.options.chartRefreshMs ?? 10_000,
      });
      if (reply.kind === "mutation" && form) {
        const next = form.get("next");
        return this.send(res, req, { kind: "redirect", to: reply.result.location ?? safeRedirect(next) });
      }
      this.send(res, req, reply.kind === "mutation" ? { kind: "json", body: reply.result.body } : reply);
    } catch (e) {
      const status = e instanceof ApiError ? e.status : 500;
      if (status === 500) this.options.log.error("web request failed", { method: req.method, url: req.url, error: e });
      const message = e instanceof ApiError ? e.message : "internal error (see the server's log)";
      if (res.headersSent) return void res.end();
      const wantsHtml = !isApi && (req.headers.accept ?? "").includes("text/html");
      this.send(res, req, wantsHtml ? { kind: "html", status, body: errorPage(status, message) } : { kind: "json", status, body: { error: message } });
    }
  }

  private send(res: ServerResponse, req: IncomingMessage, reply: Reply): void {
    if (reply.kind === "streamed" || reply.kind === "mutation") return;
    const head = req.method === "HEAD";
    if (reply.kind === "redirect") {
      res.writeHead(303, { Location: reply.to, "Cache-Control": "no-store" });
      return void res.end();
    }
    const [type, body, status, cache] =
      reply.kind === "json"
        ? ["application/json; charset=utf-8", JSON.stringify(reply.body, jsonReplacer), reply.status ?? 200, "no-store"]
        : reply.kind === "html"
          ? ["text/html; charset=utf-8", reply.body, reply.status ?? 200, "no-store"]
          : [reply.type, reply.body, 200, "no-cache"];
    res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "Cache-Control": cache });
    res.end(head ? undefined : body);
  }
}

/**
 * The request target as a URL on a fixed origin: only a path (with its query) is accepted, and
 * it stays a path (`//name/x` is the path `//name/x`, not a host). A query string that does not
 * decode is a 400.
 */
function requestUrl(target: string | undefined): URL {
  if (!target?.startsWith("/")) throw new ApiError(400, "the request target must be a path, e.g. /instances");
  let url: URL;
  try {
    url = new URL(`http://localhost${target}`);
  } catch {
    throw new ApiError(400, "the request target is not a valid path");
  }
  // URLSearchParams would read a bad escape as U+FFFD and go on: say so instead.
  for (const part of url.search.slice(1).split("&")) {
    try {
      decodeURIComponent(part.replace(/\+/g, " "));
    } catch {
      throw new ApiError(400, `the query string's ${JSON.stringify(part.slice(0, 100))} is not valid percent-encoded UTF-8`);
    }
  }
  return url;
}

function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, "the request body is too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function errorPage(status: number, message: string): string {
  const title =
    ({ 400: "Bad request", 401: "Token required", 403: "Forbidden", 404: "Not found", 421: "Wrong address" } as Record<number, string>)[status] ?? "Error";
  return layout({ title, nav: "", body: html`<h1>${title}</h1><p class="notice warn">${message}</p><p><a href="/instances">Instances</a></p>` });
}
