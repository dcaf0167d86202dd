import os from "node:os";
import type pg from "pg";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { instancesCollect } from "../store/instances.js";
import { workerStatusDelete, workerStatusPrune, workerStatusUpsert } from "../store/workers.js";

/**
 * The supervisor's housekeeping: its status row in waymark.worker_status, refreshed every
 * WAYMARK_RUNNER_PROFILE_INTERVAL_MS (and removed at shutdown; rows of supervisors that died are
 * pruned), and the garbage collector, which deletes instances finished more than
 * WAYMARK_GARBAGE_COLLECTOR_RETENTION_HOURS ago in batches, one supervisor at a time.
 */
export interface MaintenanceOptions {
  db: pg.Pool;
  owner: string;
  profileIntervalMs: number;
  retentionHours: number;
  log: Logger;
  stats(): Record<string, unknown>;
  /** How often the collector looks. @default 1/24 of the retention, between 1 s and 60 s */
  gcIntervalMs?: number;
  gcBatchSize?: number;
}

export class Maintenance {
  private readonly startedAt = new Date();
  private readonly profile: Loop;
  private readonly gc: Loop;
  private lastActions = 0;
  private lastAt = Date.now();
  collected = 0;

  constructor(private readonly options: MaintenanceOptions) {
    const failed = (what: string) => (e: unknown, retryInMs: number, failures: number) => {
      if (failures === 1) options.log.warn(`${what} failed; retrying`, { error: (e as Error).message, retryInMs });
    };
    // A failed pass waits out the interval, as a pass does.
    const every = (ms: number) => ({ intervalMs: ms, backoffMs: ms, maxBackoffMs: ms });
    this.profile = new Loop({ pass: () => this.publish(), ...every(options.profileIntervalMs), onError: failed("publishing the status row") });
    // At least 24 passes per retention period, between once a second and once a minute.
    const gcEvery = options.gcIntervalMs ?? Math.min(60_000, Math.max(1000, (options.retentionHours * 3_600_000) / 24));
    this.gc = new Loop({ pass: () => this.collect(), ...every(gcEvery), onError: failed("garbage collection") });
  }

  start(): void {
    this.profile.start();
    this.gc.start();
  }

  async publish(): Promise<void> {
    const stats = this.options.stats();
    const now = Date.now();
    const actions = Number(stats.actions ?? 0);
    const throughput = +(((actions - this.lastActions) * 1000) / Math.max(1, now - this.lastAt)).toFixed(1);
    this.lastActions = actions;
    this.lastAt = now;
    await workerStatusUpsert(this.options.db, {
      owner: this.options.owner,
      hostname: os.hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      stats: { ...stats, actionsPerSecond: throughput, rssMb: +(process.memoryUsage().rss / 2 ** 20).toFixed(1) },
    });
    // A row not refreshed for ten intervals (and at least a minute) belongs to a dead supervisor.
    await workerStatusPrune(this.options.db, { staleMs: Math.max(60_000, this.options.profileIntervalMs * 10) });
  }

  async collect(): Promise<void> {
    const batch = this.options.gcBatchSize ?? 1000;
    for (;;) {
      const n = await instancesCollect(this.options.db, { retentionHours: this.options.retentionHours, limit: batch });
      if (n > 0) {
        this.collected += n;
        this.options.log.info("garbage-collected finished instances", { count: n, retentionHours: this.options.retentionHours });
      }
      if (n < batch) return;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.profile.stop(), this.gc.stop()]);
    await workerStatusDelete(this.options.db, { owner: this.options.owner }).catch(() => undefined);
  }
}
