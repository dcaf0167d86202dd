/**
 * The one shape of every background loop in waymark (the poller, the scheduler, the heartbeat
 * and the reclaimer, maintenance, the persister's flushes, the web app's live views, the SDK's
 * completion poll): a pass runs when the loop is woken or when its interval comes round; wakes
 * during a pass coalesce into one more pass right after it; a pass that throws is retried after
 * an exponential backoff instead of in a hot loop; `stop()` waits for the pass in progress, and
 * is safe before `start()` and twice (a stopped loop may be started again).
 *
 * `passed()` resolves when a pass that starts after the call has finished: tests await it
 * instead of sleeping.
 */
export interface LoopOptions {
  /**
   * One pass. It may resolve with the milliseconds until the next (the scheduler sleeps until
   * the next due run), else the next comes after `intervalMs`.
   */
  pass(): Promise<number | undefined> | Promise<void>;
  /** The longest wait between two passes; without it, passes run only when woken. */
  intervalMs?: number;
  /** The first retry delay after a failed pass, doubled at each failure in a row. @default 100 */
  backoffMs?: number;
  /** The longest retry delay. @default 5000 */
  maxBackoffMs?: number;
  /** Told of each failed pass, and when the next try comes. */
  onError?(error: unknown, retryInMs: number, failuresInARow: number): void;
}

export class Loop {
  private timer: NodeJS.Timeout | null = null;
  /** When the timer fires (epoch ms), to keep the earliest of two wake-up times. */
  private timerAt = Number.POSITIVE_INFINITY;
  private running: Promise<void> | null = null;
  private again = false;
  private started = false;
  private stopped = false;
  private failures = 0;
  private waiting: Array<() => void> = [];
  /** Passes completed (failed ones included). */
  passes = 0;

  constructor(private readonly options: LoopOptions) {}

  /** Starts the loop with a pass at once, or `firstInMs` from now. */
  start(options: { firstInMs?: number } = {}): void {
    if (this.started) return;
    this.started = true;
    this.stopped = false;
    this.failures = 0;
    if (options.firstInMs === undefined) this.wake();
    else this.wakeIn(options.firstInMs);
  }

  get active(): boolean {
    return this.started;
  }

  /** Runs a pass now, or right after the one in progress; while backing off, at the retry. */
  wake(): void {
    if (!this.active) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.failures > 0 && this.timer) return;
    this.clearTimer();
    const waiting = this.waiting;
    this.waiting = [];
    this.running = this.options
      .pass()
      .then(
        (next) => {
          this.failures = 0;
          return typeof next === "number" ? next : this.options.intervalMs;
        },
        (e: unknown) => {
          this.failures++;
          const delay = Math.min((this.options.backoffMs ?? 100) * 2 ** (this.failures - 1), this.options.maxBackoffMs ?? 5000);
          this.options.onError?.(e, delay, this.failures);
          return delay;
        },
      )
      .then((delay) => {
        this.passes++;
        this.running = null;
        for (const resolve of waiting) resolve();
        if (!this.active) return;
        if (this.again) {
          this.again = false;
          this.wake();
        } else if (delay !== undefined) this.wakeIn(delay);
      });
  }

  /** Runs a pass in `ms` at the latest (an earlier wake-up already set is kept). */
  wakeIn(ms: number): void {
    if (!this.active || this.running) {
      if (this.running && ms <= 0) this.again = true;
      return;
    }
    const at = Date.now() + Math.max(0, ms);
    if (this.timer && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(0, ms),
    );
  }

  /**
   * Resolves when a pass that starts after this call has finished: before start(), the first
   * pass; once stopped, at once (stop() also resolves those still waiting).
   */
  passed(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Stops the loop; resolves once the pass in progress, if any, has finished. */
  async stop(): Promise<void> {
    this.started = false;
    this.stopped = true;
    this.again = false;
    this.clearTimer();
    await this.running;
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
