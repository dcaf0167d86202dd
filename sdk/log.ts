/**
 * `log`: logging from workflow code. In a workflow body, `log.info("charged", orderId)` is
 * compiled like `console.info(...)`: a record of the supervisor's structured log (with the
 * workflow, the instance, the step and the line) and of the instance's timeline, made once per
 * executed step. Anywhere else (an action, a test calling the body, plain code) each level is the
 * console's method of that level: in an action it writes to the child's output, which the
 * supervisor's own output carries.
 */
export interface WorkflowLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  /** The same as `info`. */
  log(...args: unknown[]): void;
}

export const log: WorkflowLogger = Object.freeze({
  debug: (...args: unknown[]) => console.debug(...args),
  info: (...args: unknown[]) => console.info(...args),
  warn: (...args: unknown[]) => console.warn(...args),
  error: (...args: unknown[]) => console.error(...args),
  log: (...args: unknown[]) => console.log(...args),
});
