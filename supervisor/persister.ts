import type pg from "pg";
import type { Logger } from "../log/logger.js";
import { contentRefused } from "../store/db.js";
import { instancesPersist, type AttemptWrite, type InstanceWrite } from "../store/engine.js";

/**
 * Batched, group-committed writes of instance state. Instances mark themselves dirty; an
 * urgent mark (a dispatch waits on it, or the instance finished) flushes as soon as the writer
 * is idle, so a sequential step never waits out the interval; other changes wait up to
 * `intervalMs` to share a statement. One statement per batch of up to `batchSize` instances.
 */
export interface Writable {
  readonly id: string;
  /** Builds this instance's write and takes its pending attempt rows; `after` runs once it is durable. */
  collect(): { write: InstanceWrite; attempts: AttemptWrite[]; after: () => void; undo: () => void };
  /** Postgres refused the write for what it carries: the instance fails with `reason`, without that data. */
  refused(reason: string): void;
}

type Collected = { w: Writable; settled: boolean } & ReturnType<Writable["collect"]>;

export interface PersisterOptions {
  db: pg.Pool;
  owner: string;
  batchSize: number;
  intervalMs: number;
  log: Logger;
  /** Called with the instances (and claim epochs) whose write lost the lease guard: drop them. */
  onLost(lost: Array<{ id: string; epoch?: number }>): void;
}

export class Persister {
  private readonly dirty = new Map<string, Writable>();
  private urgent = false;
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;
  /** Instances whose write Postgres refused for its content, once: failing them is the next write. */
  private readonly refused = new Set<string>();
  /** Statements written, for the status row and the bench. */
  batches = 0;
  rows = 0;

  constructor(private readonly opts: PersisterOptions) {}

  mark(w: Writable, urgent: boolean): void {
    this.dirty.set(w.id, w);
    if (urgent) this.urgent = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.flushing || this.stopped || !this.dirty.size) return;
    if (this.urgent || this.dirty.size >= this.opts.batchSize) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      // After the current microtasks: changes made together (one IPC message's results) share
      // the batch; later ones join the next (group commit).
      this.flushing = new Promise<void>((resolve) => process.nextTick(() => void this.flushOnce().finally(resolve)));
      void this.flushing.finally(() => {
        this.flushing = null;
        this.schedule();
      });
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.urgent = true;
        this.schedule();
      }, this.opts.intervalMs);
    }
  }

  private async flushOnce(): Promise<void> {
    this.urgent = false;
    const batch: Writable[] = [];
    for (const w of this.dirty.values()) {
      batch.push(w);
      if (batch.length >= this.opts.batchSize) break;
    }
    for (const w of batch) this.dirty.delete(w.id);
    if (this.dirty.size) this.urgent = true;
    const collected: Collected[] = [];
    for (const w of batch) {
      try {
        collected.push({ w, settled: false, ...w.collect() });
      } catch (e) {
        // A bug in one instance must not take the others (or the supervisor) down with it.
        this.opts.log.error("could not prepare an instance's write; dropping it from memory (its lease will expire and another claim resumes it)", {
          instance: w.id,
          error: e,
        });
        this.opts.onLost([{ id: w.id }]);
      }
    }
    if (!collected.length) return;
    try {
      await this.write(collected);
      this.failures = 0;
    } catch (e) {
      // The database is unreachable or restarting: keep what was not written in memory and try again.
      this.failures++;
      for (const c of collected) {
        if (c.settled) continue;
        c.undo();
        if (!this.dirty.has(c.w.id)) this.dirty.set(c.w.id, c.w);
      }
      const delay = Math.min(100 * 2 ** Math.min(this.failures, 7), 10_000);
      this.opts.log.warn("persisting instance state failed; retrying", { error: (e as Error).message, retryInMs: delay, instances: collected.length });
      await new Promise((r) => setTimeout(r, delay));
      this.urgent = true;
    }
  }

  /**
   * One statement for these writes. A refusal for what a write carries (not a lost connection)
   * is narrowed down by halves to the instances whose data caused it, which fail on their own:
   * one bad value never holds up the batch. A lost connection is thrown for the caller to retry.
   */
  private async write(list: Collected[]): Promise<void> {
    let written: Set<string>;
    try {
      written = await instancesPersist(this.opts.db, {
        owner: this.opts.owner,
        instances: list.map((c) => c.write),
        attempts: list.flatMap((c) => c.attempts),
      });
    } catch (e) {
      if (!contentRefused(e)) throw e;
      if (list.length === 1) return this.refuse(list[0]!, e);
      const half = Math.ceil(list.length / 2);
      await this.write(list.slice(0, half));
      await this.write(list.slice(half));
      return;
    }
    this.batches++;
    this.rows += list.length;
    const lost: Array<{ id: string; epoch: number }> = [];
    for (const c of list) {
      c.settled = true;
      this.refused.delete(c.w.id);
      if (written.has(c.w.id)) c.after();
      else lost.push({ id: c.w.id, epoch: c.write.epoch });
    }
    if (lost.length) this.opts.onLost(lost);
  }

  /** Postgres refused this instance's write for its content: it fails (once), or is dropped if even that is refused. */
  private refuse(c: Collected, e: unknown): void {
    c.settled = true;
    const reason = `Postgres refused it (${String((e as { code?: unknown }).code)}: ${(e as Error).message})`;
    if (this.refused.has(c.w.id)) {
      this.opts.log.error("an instance's failure could not be written either; dropping it from memory (its lease will expire)", {
        instance: c.w.id,
        error: reason,
      });
      this.refused.delete(c.w.id);
      this.opts.onLost([{ id: c.w.id }]);
      return;
    }
    this.opts.log.error("an instance's state was refused by Postgres; failing that instance alone", { instance: c.w.id, error: reason });
    this.refused.add(c.w.id);
    c.w.refused(reason);
    this.dirty.set(c.w.id, c.w);
    this.urgent = true;
  }

  /**
   * Writes everything dirty now (shutdown), retrying until `deadline` if the database is away;
   * returns how many instances could not be written by then (their leases expire, and another
   * supervisor resumes them from their last durable state).
   */
  async drain(deadline: number): Promise<number> {
    while ((this.dirty.size || this.flushing) && Date.now() < deadline) {
      this.urgent = true;
      this.schedule();
      if (!this.flushing) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.flushing, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
      clearTimeout(timer);
    }
    return this.dirty.size;
  }

  /** Drops a pending write of this copy (a retired one), if it is the one waiting. */
  forget(w: Writable): void {
    if (this.dirty.get(w.id) === w) this.dirty.delete(w.id);
  }

  pending(): number {
    return this.dirty.size;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
