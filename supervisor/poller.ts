import type pg from "pg";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { instanceClaim, type ClaimedInstance } from "../store/leases.js";

/**
 * The claim loop. A NOTIFY (or the fallback interval) wakes it; it claims as many runnable
 * instances as the supervisor has room for (WAYMARK_MAX_CONCURRENT_INSTANCES, and no backlog in
 * the child pool) and hands them to the shards. A full claim loops at once; a short one waits.
 */
export interface PollerOptions {
  db: pg.Pool;
  owner: string;
  leaseMs: number;
  intervalMs: number;
  log: Logger;
  /** How many more instances may be claimed now. */
  room(): number;
  /** How many isolated instances (one more death of their supervisor fails them) may be claimed now: 0 or 1. */
  isolated(): number;
  adopt(batch: ClaimedInstance[]): void;
  /** Told after each claim whether it took all it asked for (runnable instances are probably left). */
  claimed?(full: boolean): void;
}

/** The most instances one claim takes. */
export const MAX_CLAIM = 200;

export class Poller {
  private readonly loop: Loop;
  claimed = 0;

  constructor(private readonly options: PollerOptions) {
    this.loop = new Loop({
      pass: () => this.claim(),
      intervalMs: options.intervalMs,
      backoffMs: 200,
      onError: (e, retryInMs, failures) => {
        if (failures === 1 || failures % 50 === 0) options.log.warn("claiming instances failed; retrying", { error: (e as Error).message, retryInMs });
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Look for work now (coalesces while a claim runs). */
  wake(): void {
    this.loop.wake();
  }

  /** Resolves after the next claim pass (tests). */
  passed(): Promise<void> {
    return this.loop.passed();
  }

  /** Claims batches while there is room and work, handing each to the shards. */
  private async claim(): Promise<void> {
    for (;;) {
      if (!this.loop.active) return;
      const limit = Math.min(MAX_CLAIM, this.options.room());
      if (limit <= 0) return;
      const batch = await instanceClaim(this.options.db, {
        owner: this.options.owner,
        limit,
        leaseMs: this.options.leaseMs,
        isolated: this.options.isolated(),
      });
      if (batch.length) {
        this.claimed += batch.length;
        this.options.adopt(batch);
      }
      this.options.claimed?.(batch.length >= limit);
      if (batch.length < limit) return;
    }
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
