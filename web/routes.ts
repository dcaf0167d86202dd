import type { IncomingMessage, ServerResponse } from "node:http";
import { scheduleList } from "../store/schedules.js";
import { versionList } from "../store/versions.js";
import { databasePing } from "../store/db.js";
import { instanceGetFull } from "../store/instances.js";
import { workerStatusList, type WorkerStatus } from "../store/workers.js";
import { sampleAny } from "../store/samples.js";
import {
  apiCancel,
  apiInstance,
  apiInstances,
  apiRequeue,
  apiSamples,
  apiSendEvent,
  apiSchedule,
  apiSchedules,
  apiVersion,
  apiVersions,
  apiWorkers,
  ApiError,
  SAMPLES_WINDOW_MS,
  type Mutation,
} from "./api.js";
import { CHARTS_SCRIPT } from "./assets/charts.js";
import { SCRIPT } from "./assets/script.js";
import { STYLE } from "./assets/style.js";
import { uplotAsset } from "./assets/uplot.js";
import { instanceList, instanceView, isUuid, listQuery, versionWithGraph, type WebData } from "./data.js";
import type { LiveHub } from "./live.js";
import { instancePage } from "./pages/instance.js";
import { instancesPage } from "./pages/instances.js";
import { schedulesPage } from "./pages/schedules.js";
import { versionPage, versionsPage } from "./pages/versions.js";
import { workersPage } from "./pages/workers.js";

/**
 * Every route: the pages (server-rendered HTML), the JSON API under /api, /healthz and the
 * assets (the app's script and stylesheet, and the charts' script with uPlot's). GET never
 * changes anything; the mutations are POST only.
 */
export type Reply =
  | { kind: "json"; status?: number; body: unknown }
  | { kind: "html"; status?: number; body: string }
  | { kind: "asset"; type: string; body: string }
  | { kind: "redirect"; to: string }
  | { kind: "mutation"; result: Mutation }
  | { kind: "streamed" };

interface RouteContext {
  data: WebData;
  live: LiveHub;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** A POST's body, as text ("" for a GET). */
  body: string;
  /** The serving supervisor's own status, when the app runs inside `waymark supervise`. */
  local(): WorkerStatus | undefined;
  staleMs: number;
  /** How often the workers page's charts ask for new samples. */
  chartRefreshMs: number;
}

export interface Route {
  method: "GET" | "POST";
  pattern: RegExp;
  handle(c: RouteContext): Promise<Reply>;
}

const json = (body: unknown): Reply => ({ kind: "json", body });
const page = (body: string): Reply => ({ kind: "html", body });
const SEG = "([^/]+)";
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#111827"/><path d="M3 4l2.5 8L8 6l2.5 6L13 4" stroke="#60a5fa" stroke-width="1.6" fill="none"/></svg>`;

function notFound(what: string): never {
  throw new ApiError(404, what);
}

const ROUTES: Route[] = [
  { method: "GET", pattern: /^\/$/, handle: async () => ({ kind: "redirect", to: "/instances" }) },
  { method: "GET", pattern: /^\/healthz$/, handle: async (c) => json({ ok: await databasePing(c.data.db) }) },
  { method: "GET", pattern: /^\/assets\/app\.css$/, handle: async () => ({ kind: "asset", type: "text/css; charset=utf-8", body: STYLE }) },
  { method: "GET", pattern: /^\/favicon\.ico$/, handle: async () => ({ kind: "asset", type: "image/svg+xml", body: ICON }) },
  { method: "GET", pattern: /^\/assets\/app\.js$/, handle: async () => ({ kind: "asset", type: "text/javascript; charset=utf-8", body: SCRIPT }) },
  { method: "GET", pattern: /^\/assets\/charts\.js$/, handle: async () => ({ kind: "asset", type: "text/javascript; charset=utf-8", body: CHARTS_SCRIPT }) },
  { method: "GET", pattern: /^\/assets\/uplot\.js$/, handle: async () => ({ kind: "asset", type: "text/javascript; charset=utf-8", body: uplotAsset("js") }) },
  { method: "GET", pattern: /^\/assets\/uplot\.css$/, handle: async () => ({ kind: "asset", type: "text/css; charset=utf-8", body: uplotAsset("css") }) },

  // Pages.
  {
    method: "GET",
    pattern: /^\/instances$/,
    handle: async (c) => {
      const q = listQuery(c.url.searchParams);
      // A whole id goes straight to its instance.
      const whole = q.given.q?.trim().toLowerCase();
      if (whole && isUuid(whole) && (await instanceGetFull(c.data.db, { id: whole }))) return { kind: "redirect", to: `/instances/${whole}` };
      // What did not parse is left out and shown on the page, which answers 400 for it.
      return { kind: "html", status: q.problems.length ? 400 : 200, body: instancesPage(q, await instanceList(c.data, q)) };
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`^/instances/${SEG}$`),
    handle: async (c) => page(instancePage((await instanceView(c.data, c.params[1]!)) ?? notFound(`no instance ${c.params[1]}`))),
  },
  { method: "GET", pattern: /^\/schedules$/, handle: async (c) => page(schedulesPage(await scheduleList(c.data.db))) },
  {
    method: "GET",
    pattern: /^\/workers$/,
    handle: async (c) => {
      const [rows, any] = await Promise.all([workerStatusList(c.data.db, { order: "refreshed" }), sampleAny(c.data.db, { windowMs: SAMPLES_WINDOW_MS })]);
      return page(workersPage({ rows, local: c.local(), staleMs: c.staleMs, samples: { any, refreshMs: c.chartRefreshMs } }));
    },
  },
  { method: "GET", pattern: /^\/versions$/, handle: async (c) => page(versionsPage(await versionList(c.data.db))) },
  {
    method: "GET",
    pattern: new RegExp(`^/versions/${SEG}$`),
    handle: async (c) => {
      const id = c.params[1]!;
      const v = /^\d{1,15}$/.test(id) ? await versionWithGraph(c.data, Number(id)) : undefined;
      return page(versionPage(v ?? notFound(`no workflow version ${id}`)));
    },
  },

  // The JSON API.
  { method: "GET", pattern: /^\/api\/instances$/, handle: async (c) => json(await apiInstances(c.data, c.url.searchParams)) },
  { method: "GET", pattern: new RegExp(`^/api/instances/${SEG}$`), handle: async (c) => json(await apiInstance(c.data, c.params[1]!)) },
  {
    method: "GET",
    pattern: new RegExp(`^/api/instances/${SEG}/events$`),
    handle: async (c) => {
      if (!isUuid(c.params[1]!)) notFound(`no instance ${c.params[1]}`);
      await c.live.subscribe(c.params[1]!, c.res);
      return { kind: "streamed" };
    },
  },
  {
    method: "POST",
    pattern: new RegExp(`^/api/instances/${SEG}/cancel$`),
    handle: async (c) => ({ kind: "mutation", result: await apiCancel(c.data, c.params[1]!) }),
  },
  {
    method: "POST",
    pattern: new RegExp(`^/api/instances/${SEG}/events/${SEG}$`),
    handle: async (c) => {
      const key = c.req.headers["idempotency-key"];
      return {
        kind: "mutation",
        result: await apiSendEvent(c.data, { id: c.params[1]!, name: c.params[2]!, body: c.body, key: Array.isArray(key) ? key[0] : key }),
      };
    },
  },
  {
    method: "POST",
    pattern: new RegExp(`^/api/instances/${SEG}/requeue$`),
    handle: async (c) => ({ kind: "mutation", result: await apiRequeue(c.data, c.params[1]!) }),
  },
  { method: "GET", pattern: /^\/api\/schedules$/, handle: async (c) => json(await apiSchedules(c.data)) },
  {
    method: "POST",
    pattern: new RegExp(`^/api/schedules/${SEG}/${SEG}/(pause|resume|delete)$`),
    handle: async (c) => ({ kind: "mutation", result: await apiSchedule(c.data, { workflow: c.params[1]!, schedule: c.params[2]!, verb: c.params[3]! }) }),
  },
  { method: "GET", pattern: /^\/api\/workers$/, handle: async (c) => json(await apiWorkers(c.data, c.local())) },
  { method: "GET", pattern: /^\/api\/samples$/, handle: async (c) => json(await apiSamples(c.data, c.url.searchParams)) },
  { method: "GET", pattern: /^\/api\/versions$/, handle: async (c) => json(await apiVersions(c.data)) },
  { method: "GET", pattern: new RegExp(`^/api/versions/${SEG}$`), handle: async (c) => json(await apiVersion(c.data, c.params[1]!)) },
];

/**
 * The route for a path, and the methods the path allows (for 405). A path segment that does not
 * decode (malformed percent-encoding) or holds a NUL is a `problem` (400): no id or name holds
 * one (the database refuses NUL in text).
 */
export function routeFind(method: string, path: string): { route?: Route; params: Record<string, string>; allowed: string[]; problem?: string } {
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    allowed.push(route.method);
    if (route.method === method || (method === "HEAD" && route.method === "GET")) {
      const params: Record<string, string> = {};
      for (const [i, raw] of m.slice(1).entries()) {
        let v: string;
        try {
          v = decodeURIComponent(raw!);
        } catch {
          return { params: {}, allowed, problem: `the path segment ${JSON.stringify(raw!.slice(0, 100))} is not valid percent-encoded UTF-8` };
        }
        if (v.includes("\0")) return { params: {}, allowed, problem: `the path segment ${JSON.stringify(raw!.slice(0, 100))} holds a NUL byte` };
        params[i + 1] = v;
      }
      return { route, params, allowed };
    }
  }
  return { params: {}, allowed };
}
