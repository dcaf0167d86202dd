import type { ScheduleRow } from "../store/schedules.js";

export type { ScheduleRow };
import { nearest } from "../config/nearest.js";
import { cadenceNext, cadenceParse, jitterCheck, resumeNextRun, ScheduleError, shown, type Cadence } from "./cadence.js";
import { sdkConfig, sharedClient } from "./client.js";
import { checkSize, decode, encode } from "../core/codec.js";
import { definitionOf, type WorkflowDefinition } from "./definition.js";
import { WaymarkError } from "../core/errors.js";

/**
 * The schedules table's statements, loaded on first use: \`waymark\` is imported by every action
 * child, which must not load \`pg\` (about 13 MB) unless the user's own code calls the SDK.
 */
const store = () => import("../store/schedules.js");

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

/** A workflow class, or its name (for tools that do not load the class, such as the CLI). */
export type WorkflowRef = (abstract new (...args: never[]) => unknown) | string;

const OPTION_KEYS = ["scheduleName", "schedule", "args", "timezone", "jitterMs", "priority", "allowDuplicate"] as const;
/** The Python original's spellings, so a port gets told the TypeScript name. */
const PYTHON_NAMES: Readonly<Record<string, string>> = {
  schedule_name: "scheduleName",
  inputs: "args",
  jitter_seconds: "jitterMs (milliseconds)",
  jitterSeconds: "jitterMs (milliseconds)",
  allow_duplicate: "allowDuplicate",
  tz: "timezone",
};

function nameOf(w: WorkflowRef): string {
  if (typeof w === "string") {
    if (!w.trim()) throw new ScheduleError("the workflow name is empty");
    return w;
  }
  return definitionOf(w).name;
}

function scheduleNameCheck(options: { scheduleName?: unknown } | undefined, fn: string): string {
  const name = options?.scheduleName;
  if (typeof name !== "string" || !name.trim()) throw new ScheduleError(`${fn} needs { scheduleName } (a non-empty string), got ${shown(name)}`);
  return name;
}

function optionsCheck(options: object): void {
  for (const key of Object.keys(options)) {
    if ((OPTION_KEYS as readonly string[]).includes(key)) continue;
    const hint = PYTHON_NAMES[key] ?? nearest(key, OPTION_KEYS);
    throw new ScheduleError(
      `scheduleWorkflow has no option ${JSON.stringify(key)}${hint ? ` (did you mean ${hint}?)` : ""}; the options are ${OPTION_KEYS.join(", ")}`,
    );
  }
}

/** A stored schedule as `listSchedules` gives it. */
export function scheduleInfo(row: ScheduleRow): ScheduleInfo {
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

/** A schedule as `scheduleWorkflow` stores it, checked: its cadence, options and encoded arguments. */
export type ScheduleFields = Pick<
  ScheduleRow,
  "workflowName" | "scheduleName" | "kind" | "cron" | "intervalMs" | "timezone" | "jitterMs" | "args" | "priority" | "allowDuplicate"
>;

/**
 * Validates what `scheduleWorkflow` is given (by the SDK, and by waymark/testing's environment)
 * and returns the schedule's stored fields and cadence. Throws a ScheduleError (or the codec's
 * SerializationError for an argument that cannot be stored) before anything is stored.
 */
export function scheduleCheck(
  workflow: abstract new (...args: never[]) => unknown,
  options: ScheduleOptions,
  maxValueBytes: number,
): { def: WorkflowDefinition; fields: ScheduleFields; cadence: Cadence } {
  const def: WorkflowDefinition = definitionOf(workflow);
  if (!options || typeof options !== "object") throw new ScheduleError("scheduleWorkflow needs options: { scheduleName, schedule, args? }");
  optionsCheck(options);
  const scheduleName = scheduleNameCheck(options, "scheduleWorkflow");
  if (options.schedule === undefined)
    throw new ScheduleError('scheduleWorkflow needs { schedule }: a cron expression ("0 * * * *") or an interval ({ everyMs: 300000 })');
  const cadence = cadenceParse(options.schedule, options.timezone ?? "UTC");
  const jitterMs = jitterCheck(options.jitterMs ?? 0);
  const priority = options.priority ?? 0;
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < -(2 ** 31) || priority >= 2 ** 31) {
    throw new ScheduleError(`priority must be a whole number (a 32-bit integer), got ${shown(options.priority)}`);
  }
  const allowDuplicate = options.allowDuplicate ?? false;
  if (typeof allowDuplicate !== "boolean") throw new ScheduleError(`allowDuplicate must be true or false, got ${shown(options.allowDuplicate)}`);
  const args = options.args ?? [];
  if (!Array.isArray(args)) throw new ScheduleError(`args must be an array of the workflow's arguments, got ${shown(args)}`);
  const encoded = args.map((a, i) => encode(a, `argument ${i + 1} of schedule ${scheduleName} of workflow ${def.name}`));
  checkSize(encoded, `the arguments of schedule ${scheduleName} of workflow ${def.name}`, maxValueBytes);
  const fields: ScheduleFields = {
    workflowName: def.name,
    scheduleName,
    kind: cadence.kind,
    cron: cadence.kind === "cron" ? cadence.cron : null,
    intervalMs: cadence.kind === "interval" ? cadence.intervalMs : null,
    timezone: cadence.timezone,
    jitterMs,
    args: encoded,
    priority,
    allowDuplicate,
  };
  return { def, fields, cadence };
}

/**
 * Creates a schedule, or updates it in place: the cadence and options are replaced, the next run
 * recomputed from now, and the schedule set active (safe to call from every deploy). Registers
 * the caller's version of the workflow, so the schedule can fire before any supervisor has
 * loaded it. Everything is validated before anything is stored.
 */
export async function scheduleWorkflow(workflow: abstract new (...args: never[]) => unknown, options: ScheduleOptions): Promise<ScheduleInfo> {
  const { def, fields, cadence } = scheduleCheck(workflow, options, sdkConfig().maxValueBytes);
  const client = await sharedClient();
  await client.ready();
  // Registering the version makes it the latest: what the schedule fires.
  await client.versionId(def, client.pool, { latest: true });
  const row = await (await store()).scheduleUpsert(client.pool, {
    ...fields,
    nextRunAt: cadenceNext(cadence, { after: new Date(), jitterMs: fields.jitterMs }),
  });
  return scheduleInfo(row);
}

/** The error for a schedule that does not exist (code WAYMARK_NOT_FOUND). */
export function scheduleNotFound(workflowName: string, scheduleName: string): WaymarkError {
  return new WaymarkError("WAYMARK_NOT_FOUND", `no schedule ${JSON.stringify(scheduleName)} for workflow ${workflowName}`);
}

/** The schedule that pauseSchedule, resumeSchedule and deleteSchedule (`fn`) are given, checked. */
export function scheduleKey(workflow: WorkflowRef, options: { scheduleName: string }, fn: string): { workflowName: string; scheduleName: string } {
  return { workflowName: nameOf(workflow), scheduleName: scheduleNameCheck(options, fn) };
}

/** The filter listSchedules is given, checked. */
export function scheduleFilter(options: { status?: "active" | "paused"; workflow?: WorkflowRef }): { status?: "active" | "paused"; workflowName?: string } {
  if (options.status !== undefined && options.status !== "active" && options.status !== "paused") {
    throw new ScheduleError(`status must be "active" or "paused", got ${shown(options.status)}`);
  }
  return { status: options.status, workflowName: options.workflow === undefined ? undefined : nameOf(options.workflow) };
}

/** Keeps the schedule but stops firing it. */
export async function pauseSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
  const key = scheduleKey(workflow, options, "pauseSchedule");
  const client = await sharedClient();
  await client.ready();
  if (!(await (await store()).scheduleSetStatus(client.pool, { ...key, status: "paused" }))) throw scheduleNotFound(key.workflowName, key.scheduleName);
}

/** Fires again, from now on (missed fires are not replayed): the next run is computed from now. */
export async function resumeSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
  const key = scheduleKey(workflow, options, "resumeSchedule");
  const client = await sharedClient();
  await client.ready();
  const row = await (await store()).scheduleGet(client.pool, key);
  if (!row) throw scheduleNotFound(key.workflowName, key.scheduleName);
  const nextRunAt = resumeNextRun(row);
  if (!(await (await store()).scheduleSetStatus(client.pool, { ...key, status: "active", nextRunAt })))
    throw scheduleNotFound(key.workflowName, key.scheduleName);
}

/** Removes the schedule (the instances it queued stay). */
export async function deleteSchedule(workflow: WorkflowRef, options: { scheduleName: string }): Promise<void> {
  const key = scheduleKey(workflow, options, "deleteSchedule");
  const client = await sharedClient();
  await client.ready();
  if (!(await (await store()).scheduleDelete(client.pool, key))) throw scheduleNotFound(key.workflowName, key.scheduleName);
}

/** Every schedule, or those with one status or of one workflow, ordered by workflow and schedule name. */
export async function listSchedules(options: { status?: "active" | "paused"; workflow?: WorkflowRef } = {}): Promise<ScheduleInfo[]> {
  const filter = scheduleFilter(options);
  const client = await sharedClient();
  await client.ready();
  const rows = await (await store()).scheduleList(client.pool, filter);
  return rows.map(scheduleInfo);
}
