import { scheduleDelete, scheduleGet, scheduleList, scheduleSetStatus, scheduleUpsert, type ScheduleRow } from "../store/schedules.js";
import { cadenceNext, cadenceParse, ScheduleError, type Cadence } from "./cadence.js";
import { sharedClient } from "./client.js";
import { decode, encode } from "./codec.js";
import { definitionOf, type WorkflowDefinition } from "./definition.js";
import { WaymarkError } from "./errors.js";

/**
 * Scheduled workflows: a workflow on a cron or interval cadence, fired by the scheduler inside
 * `waymark supervise`. Keyed by (workflow name, schedule name).
 */
export interface ScheduleOptions {
  /** Yours to pick; lets one workflow run on several cadences. */
  scheduleName: string;
  /** A cron expression (5 fields, or 6 with seconds first), or `{ everyMs }`. */
  schedule: string | { everyMs: number };
  /** The workflow's arguments for each run. @default [] */
  args?: unknown[];
  /** The cron expression's time zone. @default "UTC" */
  timezone?: string;
  /** A uniform random delay in [0, jitterMs] added to each fire. @default 0 */
  jitterMs?: number;
  /** @default 0 */
  priority?: number;
  /** Queue a run even while the previous one is queued, running or sleeping. @default false */
  allowDuplicate?: boolean;
}

export interface ScheduleInfo {
  workflowName: string;
  scheduleName: string;
  /** The cadence as given back: the normalised cron expression, or `{ everyMs }`. */
  schedule: string | { everyMs: number };
  cron: string | null;
  intervalMs: number | null;
  timezone: string;
  jitterMs: number;
  args: unknown[];
  priority: number;
  allowDuplicate: boolean;
  status: "active" | "paused";
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  lastInstanceId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

type WorkflowRef = (abstract new (...args: never[]) => unknown) | string;

function nameOf(w: WorkflowRef): string {
  return typeof w === "string" ? w : definitionOf(w).name;
}

function info(row: ScheduleRow): ScheduleInfo {
  return {
    workflowName: row.workflowName,
    scheduleName: row.scheduleName,
    schedule: row.kind === "cron" ? row.cron! : { everyMs: row.intervalMs! },
    cron: row.cron,
    intervalMs: row.intervalMs,
    timezone: row.timezone,
    jitterMs: row.jitterMs,
    args: decode(row.args) as unknown[],
    priority: row.priority,
    allowDuplicate: row.allowDuplicate,
    status: row.status,
    nextRunAt: row.nextRunAt,
    lastRunAt: row.lastRunAt,
    lastInstanceId: row.lastInstanceId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function cadenceOf(row: ScheduleRow): Cadence {
  return row.kind === "cron" ? { kind: "cron", cron: row.cron!, timezone: row.timezone } : { kind: "interval", intervalMs: row.intervalMs!, timezone: row.timezone };
}

/**
 * Creates a schedule, or updates it in place: the cadence and options are replaced, the next run
 * recomputed from now, and the schedule set active (safe to call from every deploy).
 * Everything is validated before anything is stored.
 */
export async function scheduleWorkflow(workflow: abstract new (...args: never[]) => unknown, options: ScheduleOptions): Promise<ScheduleInfo> {
  const def: WorkflowDefinition = definitionOf(workflow);
  if (!options || typeof options.scheduleName !== "string" || !options.scheduleName.trim()) {
    throw new ScheduleError("scheduleWorkflow needs a scheduleName (a non-empty string)");
  }
  const cadence = cadenceParse(options.schedule, options.timezone ?? "UTC");
  const jitterMs = options.jitterMs ?? 0;
  if (!Number.isInteger(jitterMs) || jitterMs < 0) throw new ScheduleError(`jitterMs must be a whole number >= 0, got ${String(options.jitterMs)}`);
  const priority = options.priority ?? 0;
  if (!Number.isInteger(priority)) throw new ScheduleError(`priority must be an integer, got ${String(options.priority)}`);
  const args = options.args ?? [];
  if (!Array.isArray(args)) throw new ScheduleError("args must be an array of the workflow's arguments");
  const encoded = args.map((a, i) => encode(a, `argument ${i + 1} of schedule ${options.scheduleName}`));
  const client = await sharedClient();
  await client.ready();
  // Registering the version makes it the latest: what the schedule fires.
  await client.versionId(def);
  const row = await scheduleUpsert(client.pool, {
    workflowName: def.name,
    scheduleName: options.scheduleName,
    kind: cadence.kind,
    cron: cadence.kind === "cron" ? cadence.cron : null,
    intervalMs: cadence.kind === "interval" ? cadence.intervalMs : null,
    timezone: cadence.timezone,
    jitterMs,
    args: encoded,
    priority,
    allowDuplicate: options.allowDuplicate ?? false,
    nextRunAt: cadenceNext(cadence, { after: new Date(), jitterMs }),
  });
  return info(row);
}

function notFound(workflowName: string, scheduleName: string): never {
  throw new WaymarkError("WAYMARK_NOT_FOUND", `no schedule ${JSON.stringify(scheduleName)} for workflow ${workflowName}`);
}

/** Keeps the schedule but stops firing it. */
export async function pauseSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
  const client = await sharedClient();
  await client.ready();
  const name = nameOf(workflow);
  if (!(await scheduleSetStatus(client.pool, { workflowName: name, scheduleName: options.scheduleName, status: "paused" }))) notFound(name, options.scheduleName);
}

/** Fires again, from now on (missed fires are not replayed). */
export async function resumeSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
  const client = await sharedClient();
  await client.ready();
  const name = nameOf(workflow);
  const row = await scheduleGet(client.pool, { workflowName: name, scheduleName: options.scheduleName });
  if (!row) notFound(name, options.scheduleName);
  const nextRunAt = cadenceNext(cadenceOf(row), { after: new Date(), jitterMs: row.jitterMs });
  await scheduleSetStatus(client.pool, { workflowName: name, scheduleName: options.scheduleName, status: "active", nextRunAt });
}

/** Removes the schedule (its past instances stay). */
export async function deleteSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
  const client = await sharedClient();
  await client.ready();
  const name = nameOf(workflow);
  if (!(await scheduleDelete(client.pool, { workflowName: name, scheduleName: options.scheduleName }))) notFound(name, options.scheduleName);
}

export async function listSchedules(options: { status?: "active" | "paused"; workflow?: WorkflowRef } = {}): Promise<ScheduleInfo[]> {
  if (options.status !== undefined && options.status !== "active" && options.status !== "paused") {
    throw new ScheduleError(`status must be "active" or "paused", got ${JSON.stringify(options.status)}`);
  }
  const client = await sharedClient();
  await client.ready();
  const rows = await scheduleList(client.pool, { status: options.status, workflowName: options.workflow ? nameOf(options.workflow) : undefined });
  return rows.map(info);
}
