import type pg from "pg";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { scheduleFire } from "../sdk/cadence.js";
import { uuidv7 } from "../core/ids.js";
import { inTransaction, withClient } from "../store/db.js";
import { instanceInsert } from "../store/instances.js";
import { scheduleAdvance, scheduleNextDue, schedulesClaimDue, type ScheduleRow } from "../store/schedules.js";
import { versionLatest, type VersionRow } from "../store/versions.js";

/**
 * The scheduler loop inside `waymark supervise`. Each pass, in one transaction per batch, claims
 * due schedules (FOR UPDATE SKIP LOCKED), queues one instance of the latest registered version of
 * each (unless the previous one is still queued, running or sleeping and duplicates are not
 * allowed), and advances next_run_at; so however many supervisors run, each due fire queues
 * exactly one instance. Sleeps until the earliest next run (at most
 * WAYMARK_SCHEDULER_POLL_INTERVAL_MS), and wakes at once on a NOTIFY when a schedule changes.
 */
export interface SchedulerOptions {
  db: pg.Pool;
  /** WAYMARK_SCHEDULER_POLL_INTERVAL_MS: the longest sleep between passes. */
  intervalMs: number;
  /** WAYMARK_SCHEDULER_BATCH_SIZE: schedules claimed per transaction. */
  batchSize: number;
  log: Logger;
}

/** How soon to look again when a schedule is due but another scheduler holds it. */
const BUSY_RETRY_MS = 50;

export class Scheduler {
  /** Runs between start() and stop(); a pass may also be run directly (tests). */
  private readonly loop: Loop;
  private stopped = false;
  /** Instances queued, and fires suppressed because the previous instance was still live. */
  fired = 0;
  suppressed = 0;

  constructor(private readonly options: SchedulerOptions) {
    this.loop = new Loop({
      pass: async () => {
        await this.pass();
        return this.nextDelay();
      },
      // The database is unreachable or the pass failed: try again after the poll interval, not
      // in a hot loop.
      backoffMs: options.intervalMs,
      maxBackoffMs: options.intervalMs,
      onError: (e, retryInMs) => options.log.warn("scheduler pass failed; retrying", { error: (e as Error).message, retryInMs }),
    });
  }

  start(): void {
    this.options.log.debug("scheduler started", { pollIntervalMs: this.options.intervalMs, batchSize: this.options.batchSize });
    this.loop.start();
  }

  /** Runs a pass now (or right after the current one): a schedule changed. */
  wake(): void {
    this.loop.wake();
  }

  /** Resolves after the next pass of the loop (tests). */
  passed(): Promise<void> {
    return this.loop.passed();
  }

  private async nextDelay(): Promise<number> {
    let ms: number | undefined;
    try {
      ms = await scheduleNextDue(this.options.db);
    } catch {
      return this.options.intervalMs;
    }
    if (ms === undefined) return this.options.intervalMs;
    // Due, yet this pass could not claim it: another scheduler holds it and is about to commit.
    if (ms <= 0) return Math.min(this.options.intervalMs, BUSY_RETRY_MS);
    // A little past the due time, so the pass does not arrive a hair early and find nothing.
    return Math.min(this.options.intervalMs, Math.ceil(ms) + 2);
  }

  /** Fires every due schedule, a batch per transaction. */
  async pass(): Promise<void> {
    for (;;) {
      const n = await this.batch();
      if (n < this.options.batchSize || this.stopped) return;
    }
  }

  private batch(): Promise<number> {
    return withClient(this.options.db, (client) =>
      inTransaction(client, async () => {
        const { now, due } = await schedulesClaimDue(client, { limit: this.options.batchSize });
        if (due.length) this.options.log.debug("scheduler batch", { claimed: due.length });
        const latest = new Map<string, VersionRow | undefined>();
        for (const row of due) await this.fire(client, row, now, latest);
        return due.length;
      }),
    );
  }

  /** One due schedule, inside the claiming transaction: queue an instance (or not), advance. */
  private async fire(
    client: pg.PoolClient,
    row: ScheduleRow & { lastInstanceActive: boolean },
    now: Date,
    latest: Map<string, VersionRow | undefined>,
  ): Promise<void> {
    const where = { workflow: row.workflowName, schedule: row.scheduleName };
    // Missed fires are not replayed: the next run counts from now, on the database's clock (the
    // one that said the row was due, so a cron schedule's next run is always a later match).
    const { queue, nextRunAt, error } = scheduleFire(row, { now, lastInstanceActive: row.lastInstanceActive });
    if (error !== undefined) {
      this.options.log.error("cannot compute a schedule's next run; it stops until scheduleWorkflow updates it or it is resumed", { ...where, error });
    }
    let fired: { instanceId: string; at: Date } | null = null;
    if (queue) {
      if (!latest.has(row.workflowName)) latest.set(row.workflowName, await versionLatest(client, { name: row.workflowName }));
      const version = latest.get(row.workflowName);
      if (!version) {
        this.options.log.warn("a schedule's workflow has no registered version; skipping this fire", where);
      } else {
        const instanceId = uuidv7();
        await instanceInsert(client, {
          id: instanceId,
          workflowName: row.workflowName,
          versionId: version.id,
          args: row.args,
          priority: row.priority,
          scheduleId: row.id,
        });
        fired = { instanceId, at: now };
        this.fired++;
        this.options.log.debug("schedule fired", { ...where, instance: instanceId, version: version.hash });
      }
    } else {
      this.suppressed++;
      this.options.log.debug("previous instance still active; suppressing this fire", { ...where, instance: row.lastInstanceId });
    }
    await scheduleAdvance(client, { id: row.id, nextRunAt, fired });
  }

  /** Returns when the pass under way (if any) has committed or rolled back. Safe before start() and twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop.stop();
    this.stopped = false;
  }
}
