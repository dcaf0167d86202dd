import type pg from "pg";
import type { Logger } from "../log/logger.js";
import { cadenceNext, type Cadence } from "../sdk/cadence.js";
import { uuidv7 } from "../sdk/client.js";
import { instanceInsert } from "../store/instances.js";
import { scheduleAdvance, scheduleNextDue, schedulesClaimDue, type ScheduleRow } from "../store/schedules.js";
import { versionLatest } from "../store/versions.js";

/**
 * The scheduler loop inside `waymark supervise`. Each pass, in one transaction, claims due
 * schedules (FOR UPDATE SKIP LOCKED), queues one instance of the latest registered version of
 * each (unless the previous one is still queued, running or sleeping and duplicates are not
 * allowed), and advances next_run_at; so however many supervisors run, each due fire queues
 * exactly one instance. Wakes every WAYMARK_SCHEDULER_POLL_INTERVAL_MS, at the next due time if
 * sooner, and at once on a NOTIFY when a schedule changes.
 */
export interface SchedulerOptions {
  db: pg.Pool;
  intervalMs: number;
  batchSize: number;
  log: Logger;
}

function cadenceOf(row: ScheduleRow): Cadence {
  return row.kind === "cron" ? { kind: "cron", cron: row.cron!, timezone: row.timezone } : { kind: "interval", intervalMs: row.intervalMs!, timezone: row.timezone };
}

export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  fired = 0;
  suppressed = 0;

  constructor(private readonly o: SchedulerOptions) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.pass()
      .catch((e: unknown) => this.o.log.warn("scheduler pass failed; retrying", { error: (e as Error).message }))
      .then(() => this.nextDelay())
      .then((delay) => {
        this.running = null;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.wake();
        } else this.timer = setTimeout(() => this.wake(), delay);
      });
  }

  private async nextDelay(): Promise<number> {
    try {
      const next = await scheduleNextDue(this.o.db);
      if (next) return Math.max(0, Math.min(this.o.intervalMs, next.getTime() - Date.now()));
    } catch {
      // fall back to the interval
    }
    return this.o.intervalMs;
  }

  /** Fires every due schedule, a batch per transaction. */
  async pass(): Promise<void> {
    for (;;) {
      const n = await this.batch();
      if (n < this.o.batchSize || this.stopped) return;
    }
  }

  private async batch(): Promise<number> {
    const client = await this.o.db.connect();
    try {
      await client.query("BEGIN");
      const due = await schedulesClaimDue(client, { limit: this.o.batchSize });
      for (const row of due) {
        const now = new Date();
        let fired: string | null = null;
        if (row.allowDuplicate || !row.lastInstanceActive) {
          const version = await versionLatest(client, { name: row.workflowName });
          if (!version) {
            this.o.log.warn("a schedule's workflow has no registered version; skipping this fire", { workflow: row.workflowName, schedule: row.scheduleName });
          } else {
            fired = uuidv7();
            await instanceInsert(client, { id: fired, workflowName: row.workflowName, versionId: version.id, args: row.args, priority: row.priority, scheduleId: row.id });
            this.fired++;
          }
        } else {
          this.suppressed++;
          this.o.log.debug("previous instance still active; suppressing this fire", { workflow: row.workflowName, schedule: row.scheduleName, instance: row.lastInstanceId });
        }
        // Missed fires are not replayed: the next run counts from now.
        const nextRunAt = cadenceNext(cadenceOf(row), { after: now, jitterMs: row.jitterMs });
        await scheduleAdvance(client, { id: row.id, nextRunAt, firedInstanceId: fired });
      }
      await client.query("COMMIT");
      return due.length;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
