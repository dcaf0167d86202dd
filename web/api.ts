import { uuidv7 } from "../core/ids.js";
import { resumeNextRun } from "../sdk/cadence.js";
import { encode } from "../core/codec.js";
import { WorkflowCancelledError } from "../core/errors.js";
import { instanceCancel, instanceGetFull, instanceRequeue } from "../store/instances.js";
import { eventSend } from "../store/events.js";
import { retryDeadlock } from "../store/db.js";
import { checkName, idempotencyKey } from "../core/mailbox.js";
import { scheduleDelete, scheduleGet, scheduleList, scheduleSetStatus } from "../store/schedules.js";
import { versionList } from "../store/versions.js";
import { workerStatusList, type WorkerStatus } from "../store/workers.js";
import { sampleList } from "../store/samples.js";
import { cursorText, instanceList, instanceView, isUuid, listQuery, timeParse, versionWithGraph, type InstanceView, type WebData } from "./data.js";
import { graphStates } from "./graph.js";

/**
 * The JSON API under /api: what the pages show, as data. Values (arguments, results, errors)
 * are in sdk/codec.ts's encoded form, lossless (`decode()` gives the JavaScript values back).
 * Mutations return `{ ok, ... }` and, for the pages' forms, where to go next (`location`).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Mutation {
  body: Record<string, unknown>;
  /** Where a form post goes afterwards (else its `next` field, else back). */
  location?: string;
}

export async function apiInstances(d: WebData, query: URLSearchParams) {
  const q = listQuery(query);
  if (q.problems.length) throw new ApiError(400, q.problems.join("; "));
  const list = await instanceList(d, q);
  return {
    instances: list.rows.map(({ cursor, ...r }) => ({ ...r, cursor: cursorText(cursor) })),
    older: list.older ?? null,
    newer: list.newer ?? null,
    counts: list.counts,
    countCap: 10_000,
    estimates: list.estimates,
    workflows: list.workflows,
  };
}

function instanceJson(v: InstanceView) {
  const { state: _state, ...instance } = v.instance;
  void _state;
  return {
    instance,
    attempts: v.attempts,
    pending: v.pending,
    nodes: graphStates(v.graphs, v.progress),
    graph: v.graphs,
    ...(v.pendingProblem ? { pendingProblem: v.pendingProblem } : {}),
    waits: v.waits,
    messages: v.messages,
    published: v.published,
    children: v.children,
    limitWaits: v.limitWaits,
    logs: v.logs,
  };
}

export async function apiInstance(d: WebData, id: string) {
  const v = await instanceView(d, id);
  if (!v) throw new ApiError(404, `no instance ${id}`);
  return instanceJson(v);
}

export async function apiCancel(d: WebData, id: string): Promise<Mutation> {
  const row = isUuid(id) ? await instanceGetFull(d.db, { id }) : undefined;
  if (!row) throw new ApiError(404, `no instance ${id}`);
  const error = encode(new WorkflowCancelledError({ instanceId: id, workflowName: row.workflowName }));
  const before = await retryDeadlock(() => instanceCancel(d.db, { id, error }));
  if (!before) throw new ApiError(404, `no instance ${id}`);
  const outcome = before === "running" ? "requested" : before === "queued" || before === "sleeping" ? "cancelled" : "already finished";
  return { body: { ok: true, before, outcome } };
}

/**
 * POST /api/instances/<id>/events/<name>: the body (JSON) is the payload; an `Idempotency-Key`
 * header makes the send idempotent. 404 for an unknown instance, 409 for a finished one.
 */
export async function apiSendEvent(d: WebData, p: { id: string; name: string; body: string; key: string | undefined }): Promise<Mutation> {
  if (!isUuid(p.id)) throw new ApiError(404, `no instance ${p.id}`);
  let name: string;
  let key: string | null;
  try {
    name = checkName(p.name, "an event name");
    key = idempotencyKey(p.key === undefined ? undefined : { idempotencyKey: p.key }, "the Idempotency-Key header");
  } catch (e) {
    throw new ApiError(400, (e as Error).message);
  }
  let payload: unknown;
  try {
    payload = p.body.trim() === "" ? undefined : JSON.parse(p.body);
  } catch (e) {
    throw new ApiError(400, `the body must be the payload as JSON: ${(e as Error).message}`);
  }
  const r = await retryDeadlock(() => eventSend(d.db, { id: p.id, name, payload: encode(payload), key }));
  if (r === "not_found") throw new ApiError(404, `no instance ${p.id}`);
  if (r === "finished") throw new ApiError(409, `instance ${p.id} has finished: it takes no more events (nothing was stored)`);
  return { body: { ok: true, stored: r === "sent" } };
}

export async function apiRequeue(d: WebData, id: string): Promise<Mutation> {
  if (!isUuid(id)) throw new ApiError(404, `no instance ${id}`);
  const r = await instanceRequeue(d.db, { id, newId: uuidv7() });
  if (!r.before) throw new ApiError(404, `no instance ${id}`);
  if (!r.id) throw new ApiError(409, `instance ${id} is ${r.before}: only a failed or cancelled instance can be requeued`);
  return { body: { ok: true, id: r.id, from: id }, location: `/instances/${r.id}` };
}

export async function apiSchedules(d: WebData) {
  return { schedules: await scheduleList(d.db) };
}

export async function apiSchedule(d: WebData, p: { workflow: string; schedule: string; verb: string }): Promise<Mutation> {
  const key = { workflowName: p.workflow, scheduleName: p.schedule };
  const row = await scheduleGet(d.db, key);
  if (!row) throw new ApiError(404, `no schedule ${JSON.stringify(p.schedule)} for workflow ${p.workflow}`);
  if (p.verb === "pause") await scheduleSetStatus(d.db, { ...key, status: "paused" });
  else if (p.verb === "resume") {
    let nextRunAt: Date;
    try {
      nextRunAt = resumeNextRun(row);
    } catch (e) {
      throw new ApiError(409, (e as Error).message);
    }
    await scheduleSetStatus(d.db, { ...key, status: "active", nextRunAt });
  } else if (p.verb === "delete") await scheduleDelete(d.db, key);
  else throw new ApiError(404, `unknown schedule action ${p.verb}`);
  return { body: { ok: true, schedule: p.verb === "delete" ? null : await scheduleGet(d.db, key) } };
}

export async function apiWorkers(d: WebData, local?: WorkerStatus) {
  const rows = await workerStatusList(d.db, { order: "refreshed" });
  return { workers: rows, local: local ?? null };
}

/** What the charts draw: the last hour. */
export const SAMPLES_WINDOW_MS = 3_600_000;

/**
 * GET /api/samples[?since=<time>]: the samples of the last hour (or those after `since`, for a
 * page that has the rest), oldest first, each with its rates per second; `now` is this server's
 * time, the charts' right edge.
 */
export async function apiSamples(d: WebData, query: URLSearchParams) {
  const given = query.getAll("since");
  if (given.length > 1) throw new ApiError(400, `since is given ${given.length} times (give it once)`);
  let since: Date | undefined;
  if (given[0]) {
    since = given[0].length <= 100 ? timeParse(given[0]) : undefined;
    if (!since) throw new ApiError(400, `since=${JSON.stringify(given[0].slice(0, 60))} is not a time (use an ISO time such as 2026-01-31T12:00:00Z)`);
  }
  const samples = await sampleList(d.db, { since, windowMs: SAMPLES_WINDOW_MS });
  return {
    now: new Date(),
    windowMs: SAMPLES_WINDOW_MS,
    samples: samples.map((s) => ({ ...s, actionsPerSecond: s.actions / s.seconds, failuresPerSecond: s.failures / s.seconds })),
  };
}

export async function apiVersions(d: WebData) {
  return { versions: await versionList(d.db) };
}

export async function apiVersion(d: WebData, id: string) {
  const v = /^\d{1,15}$/.test(id) ? await versionWithGraph(d, Number(id)) : undefined;
  if (!v) throw new ApiError(404, `no workflow version ${id}`);
  return { version: v.row, graph: v.graphs };
}
