/**
 * A durable sleep. Inside a workflow the supervisor records the wake-up time and the instance
 * leaves memory; run as plain code (a test calling the body directly) it just waits.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
