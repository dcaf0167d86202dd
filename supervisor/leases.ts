import type pg from "pg";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { instanceHeartbeat, instanceReclaimExpired } from "../store/leases.js";

/**
 * The heartbeat extends this supervisor's leases every WAYMARK_LOCK_HEARTBEAT_MS and reports any
 * instance it holds in memory that the database no longer gives it (its lease expired and was
 * taken over); the reclaimer puts instances of dead supervisors back in the queue.
 */
export interface LeaseOptions {
  db: pg.Pool;
  owner: string;
  ttlMs: number;
  heartbeatMs: number;
  reclaimIntervalMs: number;
  reclaimBatchSize: number;
  /** WAYMARK_CRASH_LOOP_LIMIT: deaths in a row after which a reclaimed instance fails (0: never). */
  crashLoopLimit: number;
  log: Logger;
  /** The instances this supervisor holds in memory right now: id and claim epoch. */
  held(): Iterable<[string, number]>;
  /** Held instances whose lease is gone (each with the epoch of the claim that lost it). */
  lost(instances: Array<{ id: string; epoch: number }>): void;
  cancel(ids: string[]): void;
  /** The latest mailbox positions of held instances that have messages (a missed NOTIFY's fallback). */
  eventsSent(sent: Map<string, number>): void;
  reclaimed(n: number): void;
}

export class Leases {
  private readonly heartbeat: Loop;
  private readonly reclaimer: Loop;

  constructor(private readonly options: LeaseOptions) {
    const failed = (what: string) => (e: unknown, retryInMs: number) =>
      options.log.warn(`${what} failed; retrying`, { error: (e as Error).message, retryInMs });
    // A failed heartbeat is tried again soon (the leases are running out), at most a beat apart.
    this.heartbeat = new Loop({
      pass: () => this.beat(),
      intervalMs: options.heartbeatMs,
      maxBackoffMs: options.heartbeatMs,
      onError: failed("the lease heartbeat"),
    });
    this.reclaimer = new Loop({
      pass: () => this.reclaim(),
      intervalMs: options.reclaimIntervalMs,
      maxBackoffMs: options.reclaimIntervalMs,
      onError: failed("reclaiming expired leases"),
    });
  }

  /** Starts both; the first reclaim runs at once (the work of a supervisor that died before this one started). */
  start(): void {
    this.heartbeat.start();
    this.reclaimer.start();
  }

  /** Resolves after the next heartbeat and the next reclaim (tests). */
  passed(): Promise<void> {
    return Promise.all([this.heartbeat.passed(), this.reclaimer.passed()]).then(() => undefined);
  }

  async beat(): Promise<void> {
    // Instances adopted after this snapshot of ids may not be in the result yet: only judge these.
    const before = new Map(this.options.held());
    if (!before.size) return;
    const { owned, cancel, eventsSent } = await instanceHeartbeat(this.options.db, {
      owner: this.options.owner,
      leaseMs: this.options.ttlMs,
      ids: [...before.keys()],
    });
    const lost = [...before].filter(([id]) => !owned.has(id)).map(([id, epoch]) => ({ id, epoch }));
    if (lost.length) this.options.lost(lost);
    if (cancel.length) this.options.cancel(cancel);
    if (eventsSent.size) this.options.eventsSent(eventsSent);
  }

  async reclaim(): Promise<void> {
    let n = 0;
    const failed: string[] = [];
    for (;;) {
      const got = await instanceReclaimExpired(this.options.db, { limit: this.options.reclaimBatchSize, crashLoopLimit: this.options.crashLoopLimit });
      n += got.requeued;
      failed.push(...got.failed);
      if (got.requeued + got.failed.length < this.options.reclaimBatchSize) break;
    }
    if (failed.length) {
      this.options.log.error("failed instances whose supervisor died WAYMARK_CRASH_LOOP_LIMIT times in a row while running them (a crash loop)", {
        count: failed.length,
        instances: failed.join(","),
      });
    }
    if (n) {
      this.options.log.info("reclaimed instances whose supervisor stopped", { count: n });
      this.options.reclaimed(n);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.heartbeat.stop(), this.reclaimer.stop()]);
  }
}
