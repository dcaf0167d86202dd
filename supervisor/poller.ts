import type pg from "pg";
import type { Logger } from "../log/logger.js";
import { instanceClaim, type ClaimedInstance } from "../store/engine.js";

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
}

const MAX_CLAIM = 200;

export class Poller {
  private timer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private failures = 0;
  claimed = 0;

  constructor(private readonly o: PollerOptions) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Look for work now (coalesces while a claim runs). */
  wake(): void {
    if (this.stopped) return;
    if (this.loop) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.loop = this.run().finally(() => {
      this.loop = null;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.wake();
      } else this.timer = setTimeout(() => this.wake(), this.o.intervalMs);
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const limit = Math.min(MAX_CLAIM, this.o.room());
      if (limit <= 0) return;
      let batch: ClaimedInstance[];
      try {
        batch = await instanceClaim(this.o.db, { owner: this.o.owner, limit, leaseMs: this.o.leaseMs, isolated: this.o.isolated() });
        this.failures = 0;
      } catch (e) {
        this.failures++;
        if (this.failures === 1 || this.failures % 50 === 0) this.o.log.warn("claiming instances failed; retrying", { error: (e as Error).message });
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** this.failures, 5000)));
        continue;
      }
      if (batch.length) {
        this.claimed += batch.length;
        this.o.adopt(batch);
      }
      if (batch.length < limit) return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.loop;
  }
}
