/**
 * The moments instances this supervisor heard of fall due: a start delayed by `delayMs` (its
 * NOTIFY says when), an instance it put to sleep or out of memory with a deadline. At the
 * earliest one it wakes the poller, so such an instance is claimed when it is due rather than at
 * the next poll (WAYMARK_POLL_INTERVAL_MS stays the fallback: for what other supervisors put to
 * sleep, and past the moments kept here). It keeps the earliest MAX moments and one timer, so
 * 100,000 sleepers cost it nothing more than ten.
 */
const MAX = 64;
/** Fire this long after a moment: Postgres's clock decides what is due, and it may be a little behind. */
const SLACK_MS = 3;
/** The longest a timer is set for (Node's limit is about 24.8 days); it is set again when it fires. */
const LONGEST_MS = 3_600_000;

export class Wakeups {
  /** Ascending, without repeats. */
  private readonly moments: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(private readonly wake: () => void) {}

  /** Something falls due at `at` (epoch ms, this process's clock). */
  add(at: number): void {
    if (this.stopped || !Number.isFinite(at)) return;
    const m = this.moments;
    let lo = 0;
    let hi = m.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (m[mid]! < at) lo = mid + 1;
      else hi = mid;
    }
    if (m[lo] === at) return;
    if (lo >= MAX) return;
    m.splice(lo, 0, at);
    if (m.length > MAX) m.length = MAX;
    this.arm();
  }

  /** Moments kept (tests). */
  get size(): number {
    return this.moments.length;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.moments.length = 0;
  }

  private arm(): void {
    const next = this.moments[0];
    if (next === undefined || next >= this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = next;
    this.timer = setTimeout(() => this.fire(), Math.min(LONGEST_MS, Math.max(0, next + SLACK_MS - Date.now())));
    // Nothing to wait for on its own account: the supervisor's other handles keep it alive.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let due = 0;
    while (due < this.moments.length && this.moments[due]! + SLACK_MS <= now) due++;
    this.moments.splice(0, due);
    if (due) this.wake();
    this.arm();
  }
}
