/**
 * Schedules in memory, fired on the environment's virtual clock. What is checked and stored
 * (sdk/schedules.ts `scheduleCheck`), when a schedule fires next and whether a fire queues an
 * instance (sdk/cadence.ts `cadenceNext`, `scheduleFire`, `resumeNextRun`, cron-parser underneath)
 * are the production code's; only the table is a Map.
 */
import type { Encoded } from "../core/codec.js";
import { uuidv7 } from "../core/ids.js";
import { cadenceNext, resumeNextRun, scheduleFire } from "../sdk/cadence.js";
import { workflowRegistry } from "../sdk/definition.js";
import {
  scheduleCheck,
  scheduleFilter,
  scheduleInfo,
  scheduleKey,
  scheduleNotFound,
  type ScheduleInfo,
  type ScheduleOptions,
  type ScheduleRow,
  type WorkflowRef,
} from "../sdk/schedules.js";
import { type Engine, finished } from "./engine.js";

export class Schedules {
  private readonly rows = new Map<string, ScheduleRow>();
  private nextId = 1;

  constructor(
    private readonly engine: Engine,
    private readonly o: { maxValueBytes: number; random: () => number },
  ) {}

  private key(workflowName: string, scheduleName: string): string {
    return `${workflowName}\u0000${scheduleName}`;
  }

  private date(): Date {
    return new Date(this.engine.now);
  }

  /** scheduleWorkflow: creates the schedule, or updates it in place (active again, next run from now). */
  upsert(workflow: abstract new (...args: never[]) => unknown, options: ScheduleOptions): ScheduleInfo {
    const { fields, cadence } = scheduleCheck(workflow, options, this.o.maxValueBytes);
    const now = this.date();
    const nextRunAt = cadenceNext(cadence, { after: now, jitterMs: fields.jitterMs, random: this.o.random });
    const k = this.key(fields.workflowName, fields.scheduleName);
    const existing = this.rows.get(k);
    const row: ScheduleRow = {
      id: existing?.id ?? this.nextId++,
      ...fields,
      status: "active",
      nextRunAt,
      lastRunAt: existing?.lastRunAt ?? null,
      lastInstanceId: existing?.lastInstanceId ?? null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    this.rows.set(k, row);
    return scheduleInfo(row);
  }

  private get(workflow: WorkflowRef, options: { scheduleName: string }, fn: string): ScheduleRow {
    const { workflowName, scheduleName } = scheduleKey(workflow, options, fn);
    const row = this.rows.get(this.key(workflowName, scheduleName));
    if (!row) throw scheduleNotFound(workflowName, scheduleName);
    return row;
  }

  pause(workflow: WorkflowRef, options: { scheduleName: string }): void {
    const row = this.get(workflow, options, "pauseSchedule");
    row.status = "paused";
    row.updatedAt = this.date();
  }

  resume(workflow: WorkflowRef, options: { scheduleName: string }): void {
    const row = this.get(workflow, options, "resumeSchedule");
    row.nextRunAt = resumeNextRun(row, this.date());
    row.status = "active";
    row.updatedAt = this.date();
  }

  delete(workflow: WorkflowRef, options: { scheduleName: string }): void {
    const row = this.get(workflow, options, "deleteSchedule");
    this.rows.delete(this.key(row.workflowName, row.scheduleName));
  }

  list(options: { status?: "active" | "paused"; workflow?: WorkflowRef } = {}): ScheduleInfo[] {
    const filter = scheduleFilter(options);
    return [...this.rows.values()]
      .filter((r) => (!filter.status || r.status === filter.status) && (!filter.workflowName || r.workflowName === filter.workflowName))
      .sort((a, b) => (a.workflowName === b.workflowName ? (a.scheduleName < b.scheduleName ? -1 : 1) : a.workflowName < b.workflowName ? -1 : 1))
      .map(scheduleInfo);
  }

  /** The earliest next run of an active schedule. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const r of this.rows.values()) {
      if (r.status !== "active" || !r.nextRunAt) continue;
      const t = r.nextRunAt.getTime();
      if (min === undefined || t < min) min = t;
    }
    return min;
  }

  /** Fires every schedule due at the environment's now, in the order they fell due (the scheduler's pass). */
  fireDue(): void {
    const now = this.engine.now;
    const due = [...this.rows.values()]
      .filter((r) => r.status === "active" && r.nextRunAt && r.nextRunAt.getTime() <= now)
      .sort((a, b) => a.nextRunAt!.getTime() - b.nextRunAt!.getTime());
    for (const row of due) {
      const last = row.lastInstanceId === null ? undefined : this.engine.instances.get(row.lastInstanceId);
      const at = this.date();
      const { queue, nextRunAt } = scheduleFire(row, { now: at, lastInstanceActive: last !== undefined && !finished(last.status), random: this.o.random });
      // The latest registered version fires: here, the class this process imported.
      const def = queue ? workflowRegistry().get(row.workflowName) : undefined;
      if (def) {
        const inst = this.engine.create(def, row.args as Encoded[], { id: uuidv7(), scheduleName: row.scheduleName });
        row.lastInstanceId = inst.id;
        row.lastRunAt = at;
      }
      row.nextRunAt = nextRunAt;
      row.updatedAt = at;
    }
  }
}
