/**
 * Retry and backoff policies for `this.runAction(call, { retry, backoff })`. They are data: the
 * compiler stores their options in the graph, and plain objects of the same shape work too.
 */
export interface RetryPolicyOptions {
  /** Executions in all (1 = no retry). */
  attempts: number;
  /** Error names to retry (e.g. "NetworkError", "ActionTimeout"); absent: every error. */
  exceptionTypes?: string[];
}

export class RetryPolicy implements RetryPolicyOptions {
  readonly attempts: number;
  readonly exceptionTypes?: string[];
  constructor(options: RetryPolicyOptions) {
    if (!Number.isInteger(options.attempts) || options.attempts < 1)
      throw new TypeError(`RetryPolicy attempts must be a whole number >= 1, got ${String(options.attempts)}`);
    this.attempts = options.attempts;
    if (options.exceptionTypes) this.exceptionTypes = [...options.exceptionTypes];
  }
}

export interface BackoffPolicyOptions {
  /** Delay before the first retry. */
  baseDelayMs: number;
  /** Growth per retry: delay n = baseDelayMs * multiplier^(n-1). @default 1 */
  multiplier?: number;
  /** Cap on any one delay. */
  maxDelayMs?: number;
  /** Spread each delay uniformly over [0, delay]. @default false */
  jitter?: boolean;
}

export class BackoffPolicy {
  readonly baseDelayMs: number;
  readonly multiplier: number;
  readonly maxDelayMs?: number;
  readonly jitter: boolean;
  constructor(options: BackoffPolicyOptions) {
    if (!(options.baseDelayMs >= 0)) throw new TypeError(`BackoffPolicy baseDelayMs must be >= 0, got ${String(options.baseDelayMs)}`);
    this.baseDelayMs = options.baseDelayMs;
    this.multiplier = options.multiplier ?? 1;
    if (options.maxDelayMs !== undefined) this.maxDelayMs = options.maxDelayMs;
    this.jitter = options.jitter ?? false;
  }
}
