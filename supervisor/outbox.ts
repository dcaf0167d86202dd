import type pg from "pg";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { effectsApply, type EffectOutcome, type EffectWrite } from "../store/events.js";

export interface OutboxOptions {
  db: pg.Pool;
  log: Logger;
  /** Each effect's outcome, once written. */
  done(outcomes: EffectOutcome[]): void;
}

/**
 * The effects of workflow steps on the world beyond their instance's row (sends, child starts,
 * publications), written in batches once the state that made them is durable: one statement
 * for everything queued meanwhile (store/events.ts `effectsApply`). Each is idempotent, so a
 * batch tried again after a lost connection, or written again by the next owner after a crash,
 * changes nothing twice.
 */
export class Outbox {
  private queue: EffectWrite[] = [];
  private readonly loop: Loop;

  constructor(private readonly options: OutboxOptions) {
    this.loop = new Loop({
      pass: async () => {
        // After the current microtasks: effects of one write (or one IPC message) share the batch.
        await new Promise((resolve) => process.nextTick(resolve));
        const batch = this.queue.splice(0, 500);
        if (!batch.length) return undefined;
        try {
          this.options.done(await effectsApply(this.options.db, batch));
        } catch (e) {
          this.queue.unshift(...batch);
          throw e;
        }
        return this.queue.length ? 0 : undefined;
      },
      backoffMs: 200,
      maxBackoffMs: 10_000,
      onError: (e, retryInMs) => this.options.log.warn("writing workflow effects failed; retrying", { error: (e as Error).message, retryInMs }),
    });
    this.loop.start();
  }

  submit(effects: EffectWrite[]): void {
    if (!effects.length) return;
    this.queue.push(...effects);
    this.loop.wake();
  }

  pending(): number {
    return this.queue.length;
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
