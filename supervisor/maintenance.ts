import os from "node:os";
import type pg from "pg";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { instancesCollect } from "../store/instances.js";
import { sampleRecord } from "../store/samples.js";
import { workerStatusDelete, workerStatusPrune, workerStatusUpsert } from "../store/workers.js";

/**
 * The supervisor's housekeeping: its status row in waymark.worker_status, refreshed every
 * WAYMARK_RUNNER_PROFILE_INTERVAL_MS (and removed at shutdown; rows of supervisors that died are
 * pruned), the garbage collector, which deletes instances finished more than
 * WAYMARK_GARBAGE_COLLECTOR_RETENTION_HOURS ago in batches, one supervisor at a time, and the
 * sampler, which writes the cluster's activity of each interval for the web app's charts (one
 * supervisor writes each sample; see store/samples.ts).
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
  /** The length of a sample's interval: every supervisor of a cluster must use the same. @default 10000 */
  sampleIntervalMs?: number;
}

/** An interval's attempts reach the table within this (they are written in batches after their outcome). */
const SAMPLE_SETTLE_MS = 2_000;
/** Samples are kept an hour, and a few minutes more so that the charts' hour is always whole. */
const SAMPLE_RETENTION_MS = 65 * 60_000;

export class Maintenance {
  private readonly startedAt = new Date();
  private readonly profile: Loop;
  private readonly gc: Loop;
  private readonly sampler: Loop;
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
    const sampleEvery = options.sampleIntervalMs ?? 10_000;
    this.sampler = new Loop({ pass: () => this.sample(sampleEvery), ...every(sampleEvery), onError: failed("writing a sample for the charts") });
  }

  start(): void {
    this.profile.start();
    this.gc.start();
    this.sampler.start();
  }

  /**
   * Writes the latest settled interval's sample unless it is written already (or another
   * supervisor is writing it), then waits for the middle of the next interval's settled span:
   * every supervisor aims at the same moment, and a clock or timer off by less than half an
   * interval still finds each interval once.
   */
  private async sample(intervalMs: number): Promise<number> {
    await sampleRecord(this.options.db, { intervalMs, settleMs: SAMPLE_SETTLE_MS, retentionMs: SAMPLE_RETENTION_MS });
    const phase = (Date.now() - SAMPLE_SETTLE_MS) % intervalMs;
    const wait = (intervalMs * 1.5 - phase) % intervalMs;
    return wait < intervalMs / 4 ? wait + intervalMs : wait;
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
    await Promise.all([this.profile.stop(), this.gc.stop(), this.sampler.stop()]);
    await workerStatusDelete(this.options.db, { owner: this.options.owner }).catch(() => undefined);
  }
}
