import type pg from "pg";
import type { Logger } from "../log/logger.js";
import { Loop } from "../core/loop.js";
import { contentRefused } from "../store/db.js";
import { instancesPersist, type InstanceWrite } from "../store/progress.js";
import type { AttemptWrite } from "../store/attempts.js";

/**
 * Batched, group-committed writes of instance state. Instances mark themselves dirty; an
 * urgent mark (a dispatch waits on it, or the instance finished) flushes as soon as the writer
 * is idle, so a sequential step never waits out the interval; other changes wait up to
 * `intervalMs` to share a statement. One statement per batch of up to `batchSize` instances.
 */
export interface Writable {
  readonly id: string;
  /** Builds this instance's write and takes its pending attempt rows; `after` runs once it is durable. */
  collect(): { write: InstanceWrite; attempts: AttemptWrite[]; after: (eventsSent?: number) => void; undo: () => void };
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
  /** Flushes: woken by an urgent mark, within `intervalMs` of another, backing off while the database is away. */
  private readonly loop: Loop;
  private stopped = false;
  /** Instances whose write Postgres refused for its content, once: failing them is the next write. */
  private readonly refused = new Set<string>();
  /** Statements written, for the status row and the bench. */
  batches = 0;
  rows = 0;

  constructor(private readonly opts: PersisterOptions) {
    this.loop = new Loop({
      pass: async () => {
        // After the current microtasks: changes made together (one IPC message's results) share
        // the batch; later ones join the next (group commit).
        await new Promise((resolve) => process.nextTick(resolve));
        await this.flushOnce();
        if (!this.dirty.size) return undefined;
        return this.urgent || this.dirty.size >= this.opts.batchSize ? 0 : this.opts.intervalMs;
      },
      // The database is unreachable or restarting: everything stays in memory and is tried again.
      backoffMs: 200,
      maxBackoffMs: 10_000,
      onError: (e, retryInMs, failures) => {
        this.urgent = true;
        this.opts.log.warn("persisting instance state failed; retrying", { error: (e as Error).message, retryInMs, failuresInARow: failures });
      },
    });
    this.loop.start();
  }

  mark(w: Writable, urgent: boolean): void {
    if (this.stopped) return;
    this.dirty.set(w.id, w);
    if (urgent) this.urgent = true;
    if (this.urgent || this.dirty.size >= this.opts.batchSize) this.loop.wake();
    else this.loop.wakeIn(this.opts.intervalMs);
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
    } catch (e) {
      // The database is unreachable or restarting: what was not written stays in memory, and the
      // loop tries again after its backoff.
      for (const c of collected) {
        if (c.settled) continue;
        c.undo();
        if (!this.dirty.has(c.w.id)) this.dirty.set(c.w.id, c.w);
      }
      throw e;
    }
  }

  /**
   * One statement for these writes. A refusal for what a write carries (not a lost connection)
   * is narrowed down by halves to the instances whose data caused it, which fail on their own:
   * one bad value never holds up the batch. A lost connection is thrown for the caller to retry.
   */
  private async write(list: Collected[]): Promise<void> {
    let written: Map<string, number>;
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
      if (written.has(c.w.id)) c.after(written.get(c.w.id));
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
    while (this.dirty.size && Date.now() < deadline) {
      this.urgent = true;
      const pass = this.loop.passed();
      this.loop.wake();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([pass, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
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

  /** No more writes: resolves when the one in progress, if any, has finished. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.loop.stop();
  }
}
