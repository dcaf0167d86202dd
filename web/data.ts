import type pg from "pg";
import { workflowGraph, type FnGraph } from "../compiler/visualize.js";
import type { WorkflowIR } from "../core/ir.js";
import type { Logger } from "../log/logger.js";
import { attemptList, type AttemptRow } from "../store/attempts.js";
import { instanceGetFull, STATUSES, type InstanceCursor, type InstanceFull, type InstanceStatus, type InstanceSummary } from "../store/instances.js";
import { instancePage, instanceStatusCounts, instanceStatusEstimates, type InstanceFilter } from "../store/instance-pages.js";
import { versionsGet, versionWorkflowNames, type VersionRow } from "../store/versions.js";
import { withNestedActions } from "./graph.js";
import { nodeProgress, pendingCalls, stillPending, worldWaits, type NodeProgress, type PendingCall, type WorldWaits } from "./progress.js";
import { childrenList, eventsPending, publishedList, type ChildSummary } from "../store/events.js";
import { slotWaitsOf } from "../store/slots.js";
import { workflowLogList, type LogRow } from "../store/logs.js";
import { LOG_RECORDS_KEPT } from "../core/limits.js";

/**
 * What the pages and the JSON API show, read through the store: one place that parses list
 * queries, caches what never changes (a version's IR and graph) and what may lag a second
 * (counts), and assembles an instance's view.
 */
export interface WebData {
  db: pg.Pool;
  log: Logger;
  versions: Map<number, { row: VersionRow; graphs: FnGraph[] }>;
  counts: Map<string, { at: number; value: Promise<Record<InstanceStatus, number>> }>;
}

const PAGE_SIZE = 50;
const MAX_PAGE = 500;
/** Counts stop here: a bounded index scan per status, whatever the table's size. */
export const COUNT_CAP = 10_000;
const COUNT_TTL_MS = 2_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID.test(s);
}

export function webData(p: { db: pg.Pool; log: Logger }): WebData {
  return { db: p.db, log: p.log, versions: new Map(), counts: new Map() };
}

export function cursorText(c: InstanceCursor): string {
  return `${c.us}_${c.id}`;
}

/** The latest time a cursor or a filter may name (four-digit years), in microseconds: 9999-12-31T23:59:59.999999Z. */
const MAX_US = 253_402_300_799_999_999n;

function cursorParse(s: string): InstanceCursor | undefined {
  const m = /^(\d{1,18})_([0-9a-f-]{36})$/i.exec(s);
  return m && BigInt(m[1]!) <= MAX_US && isUuid(m[2]!) ? { us: BigInt(m[1]!).toString(), id: m[2]!.toLowerCase() } : undefined;
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * `2026-11-23T10:00` (a datetime-local input, read as UTC), a date, or an ISO time with seconds,
 * fractions and a zone. Strict: every field in range (no 2024-02-30, no year 0 or 99999).
 */
export function timeParse(s: string): Date | undefined {
  const m = TIME.exec(s.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const ms = Math.floor(Number(`0.${m[7] ?? 0}`) * 1000);
  const zone = m[8]?.toUpperCase() ?? "Z";
  const [zoneHours, zoneMinutes] = zone === "Z" ? [0, 0] : [Number(zone.slice(1, 3)), Number(zone.slice(-2))];
  const offset = (zone.startsWith("-") ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  const days = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // leap years aside: checked below
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59 || second > 59) return undefined;
  if (zoneHours > 18 || zoneMinutes > 59) return undefined;
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, ms);
  if (utc.getUTCDate() !== day) return undefined; // February 29th of a common year
  return new Date(utc.getTime() - offset * 60_000);
}

/** Longest filter value: names and times are short; a longer one is a mistake or a probe. */
const MAX_VALUE = 1000;

export interface ListQuery {
  filter: InstanceFilter;
  before?: InstanceCursor;
  after?: InstanceCursor;
  limit: number;
  /** The query as given (for the form and the links), and what was ignored and why. */
  given: Record<string, string>;
  problems: string[];
}

/**
 * A list query from the address. Every parameter is checked; one that does not parse is left
 * out and named in `problems` (the API answers 400 with them, the page shows them).
 */
export function listQuery(q: URLSearchParams): ListQuery {
  const problems: string[] = [];
  const shown = (v: string) => JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  const read = (k: string) => {
    const all = q.getAll(k);
    const v = all[0]?.trim();
    if (all.length > 1) problems.push(`${k} is given ${all.length} times (give it once)`);
    else if (!v) return undefined;
    else if (v.length > MAX_VALUE) problems.push(`${k} is ${v.length} characters long (at most ${MAX_VALUE})`);
    else if (v.includes("\0")) problems.push(`${k}=${shown(v)} holds a NUL byte`);
    else return v;
    return undefined;
  };
  const given: Record<string, string> = {};
  for (const k of ["workflow", "status", "from", "to", "q"]) {
    const v = read(k);
    if (v) given[k] = v;
  }
  const filter: InstanceFilter = {};
  if (given.workflow) filter.workflow = given.workflow;
  if (given.status) {
    if ((STATUSES as string[]).includes(given.status)) filter.status = given.status as InstanceStatus;
    else problems.push(`unknown status ${shown(given.status)} (use one of ${STATUSES.join(", ")})`);
  }
  for (const [k, field] of [
    ["from", "createdFrom"],
    ["to", "createdTo"],
  ] as const) {
    if (!given[k]) continue;
    const d = timeParse(given[k]!);
    if (d && d.getUTCFullYear() >= 1 && d.getTime() * 1000 <= Number(MAX_US)) filter[field] = d;
    else problems.push(`${k}=${shown(given[k]!)} is not a time (use 2026-01-31T12:00, read as UTC, with a year from 0001 to 9999)`);
  }
  if (given.q) {
    const hex = given.q.toLowerCase().replace(/-/g, "");
    if (/^[0-9a-f]{1,32}$/.test(hex)) filter.idPrefix = hex;
    else problems.push(`${shown(given.q)} is not an instance id or the start of one (hex digits)`);
  }
  let limit = PAGE_SIZE;
  const rawLimit = read("limit");
  if (rawLimit) {
    const n = /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (n >= 1 && n <= MAX_PAGE) limit = n;
    else problems.push(`limit=${shown(rawLimit)} is not a whole number from 1 to ${MAX_PAGE}`);
  }
  const cursor = (k: "before" | "after") => {
    const v = read(k);
    const c = v ? cursorParse(v) : undefined;
    if (v && !c) problems.push(`${k}=${shown(v)} is not a page cursor (follow the older and newer links, or leave it out)`);
    return c;
  };
  return { filter, before: cursor("before"), after: cursor("after"), limit, given, problems };
}

export interface InstanceList {
  rows: InstanceSummary[];
  /** Cursors for the older and newer pages, when there are such pages. */
  older?: string;
  newer?: string;
  counts: Record<InstanceStatus, number>;
  /** Planner estimates for counts that hit the cap (only without filters: they are table-wide). */
  estimates: Partial<Record<InstanceStatus, number>>;
  workflows: string[];
}

export async function instanceList(d: WebData, q: ListQuery): Promise<InstanceList> {
  const page = await instancePage(d.db, { filter: q.filter, limit: q.limit, before: q.before, after: q.before ? undefined : q.after });
  const [counts, workflows] = await Promise.all([statusCounts(d, q.filter), versionWorkflowNames(d.db)]);
  const unfiltered = !q.filter.workflow && !q.filter.createdFrom && !q.filter.createdTo && !q.filter.idPrefix;
  const capped = STATUSES.some((s) => counts[s] >= COUNT_CAP);
  const estimates = unfiltered && capped ? await instanceStatusEstimates(d.db) : {};
  const first = page.rows[0];
  const last = page.rows.at(-1);
  // Paging back (after=) always has older rows behind it; paging forward has newer ones.
  const hasOlder = q.after && !q.before ? true : page.more;
  const hasNewer = q.before ? true : q.after ? page.more : false;
  return {
    rows: page.rows,
    older: hasOlder && last ? cursorText(last.cursor) : undefined,
    newer: hasNewer && first ? cursorText(first.cursor) : undefined,
    counts,
    estimates,
    workflows,
  };
}

/** Counts per status, shared for two seconds between page loads with the same filter. */
function statusCounts(d: WebData, filter: InstanceFilter): Promise<Record<InstanceStatus, number>> {
  const key = JSON.stringify({ ...filter, status: undefined });
  const now = Date.now();
  const hit = d.counts.get(key);
  if (hit && now - hit.at < COUNT_TTL_MS) return hit.value;
  if (d.counts.size > 100) d.counts.clear();
  const value = instanceStatusCounts(d.db, { filter, cap: COUNT_CAP });
  d.counts.set(key, { at: now, value });
  value.catch(() => d.counts.delete(key));
  return value;
}

/** A version with its graph (versions never change: cached for the server's life). */
export async function versionWithGraph(d: WebData, id: number): Promise<{ row: VersionRow; graphs: FnGraph[] } | undefined> {
  const hit = d.versions.get(id);
  if (hit) return hit;
  const [row] = await versionsGet(d.db, { ids: [id] });
  if (!row) return undefined;
  let graphs: FnGraph[] = [];
  try {
    graphs = withNestedActions(row.ir, workflowGraph(row.ir));
  } catch (e) {
    d.log.warn("cannot draw a workflow version's graph", { version: id, error: (e as Error).message });
  }
  const entry = { row, graphs };
  if (d.versions.size > 500) d.versions.clear();
  d.versions.set(id, entry);
  return entry;
}

export interface InstanceView {
  instance: InstanceFull;
  attempts: AttemptRow[];
  pending: PendingCall[];
  graphs: FnGraph[];
  progress: Record<string, NodeProgress>;
  /** Why the calls in flight could not be read, if they could not. */
  pendingProblem?: string;
  /** What it waits for in the world (messages, children), from its snapshot. */
  waits: WorldWaits;
  /** Messages in its mailboxes that no wait has taken yet. */
  messages: Awaited<ReturnType<typeof eventsPending>>;
  published: Awaited<ReturnType<typeof publishedList>>;
  children: ChildSummary[];
  /** Calls waiting for their action's cluster-wide limit. */
  limitWaits: Awaited<ReturnType<typeof slotWaitsOf>>;
  /** Its workflow's log records (`console.log` in `run()`), oldest first: the latest LOG_RECORDS_KEPT. */
  logs: LogRow[];
}

export async function instanceView(d: WebData, id: string): Promise<InstanceView | undefined> {
  if (!isUuid(id)) return undefined;
  const instance = await instanceGetFull(d.db, { id });
  if (!instance) return undefined;
  const [attempts, version, messages, published, children, limitWaits, logs] = await Promise.all([
    attemptList(d.db, { instanceId: id }),
    versionWithGraph(d, instance.versionId),
    eventsPending(d.db, { id }),
    publishedList(d.db, { id }),
    childrenList(d.db, { id }),
    slotWaitsOf(d.db, { instanceId: id }),
    workflowLogList(d.db, { instanceId: id, limit: LOG_RECORDS_KEPT }),
  ]);
  let pending: PendingCall[] = [];
  let waits: WorldWaits = { events: [], children: [] };
  let pendingProblem: string | undefined;
  if (version) {
    try {
      const ir = version.row.ir as WorkflowIR;
      pending = stillPending(pendingCalls({ ir, status: instance.status, state: instance.state, args: instance.args }), attempts);
      waits = worldWaits({ ir, status: instance.status, state: instance.state });
    } catch (e) {
      pendingProblem = (e as Error).message;
    }
  }
  return {
    instance,
    attempts,
    pending,
    graphs: version?.graphs ?? [],
    progress: nodeProgress({ attempts, pending }),
    pendingProblem,
    waits,
    messages,
    published,
    children,
    limitWaits,
    logs,
  };
}

export const FINISHED: readonly InstanceStatus[] = ["completed", "failed", "cancelled"];
