/**
 * A durable sleep. Inside a workflow the supervisor records the wake-up time and the instance
 * leaves memory; run as plain code (a test calling the body directly) it just waits.
 */
export function sleep(ms: number): Promise<void> {
  const n = Number(ms);
  // Node runs a timer longer than 2^31-1 ms after 1 ms: wait in steps instead.
  const wait = (left: number, resolve: () => void): void => {
    if (left <= MAX_TIMER_MS) setTimeout(resolve, Math.max(0, left));
    else setTimeout(() => wait(left - MAX_TIMER_MS, resolve), MAX_TIMER_MS);
  };
  return new Promise((resolve) => wait(Number.isFinite(n) ? n : n > 0 ? Number.MAX_VALUE : 0, resolve));
}

/** The longest delay a Node timer holds. */
const MAX_TIMER_MS = 2 ** 31 - 1;
