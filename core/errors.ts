/**
 * The few error classes waymark throws. Each has a stable string `code`; `isWaymarkError`
 * recognises them across processes and module copies, where `instanceof` cannot.
 */
export type WaymarkErrorCode =
  | "WAYMARK_UNSUPPORTED_PATTERN"
  | "WAYMARK_WORKFLOW_FAILED"
  | "WAYMARK_WORKFLOW_CANCELLED"
  | "WAYMARK_ACTION_TIMEOUT"
  | "WAYMARK_SERIALIZATION"
  | "WAYMARK_REGISTRATION"
  | "WAYMARK_CONNECTION"
  | "WAYMARK_CONFIG"
  | "WAYMARK_NOT_IN_ACTION"
  | "WAYMARK_NOT_FOUND"
  | "WAYMARK_INSTANCE_FINISHED"
  /** waymark/testing used in a way it cannot serve (mixed with a supervisor, a wait nothing can end, closed). */
  | "WAYMARK_TESTING";

const MARK = Symbol.for("waymark.error");

export class WaymarkError extends Error {
  readonly code: WaymarkErrorCode;
  constructor(code: WaymarkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "WaymarkError";
    Object.defineProperty(this, MARK, { value: true });
  }
}

/** True for any waymark error, including ones rebuilt from data that crossed a process. */
export function isWaymarkError(e: unknown): e is WaymarkError {
  if (typeof e !== "object" || e === null) return false;
  if ((e as Record<symbol, unknown>)[MARK] === true) return true;
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("WAYMARK_");
}

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/**
 * A construct in a workflow body that waymark cannot run durably. Thrown at decoration time,
 * so importing the module fails. The message quotes the code, gives the location and a hint.
 */
export class UnsupportedPatternError extends WaymarkError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly hint: string;
  /** The short rule id from the determinism table, e.g. "nondeterministic-call". */
  readonly rule: string;
  constructor(params: { rule: string; message: string; hint: string; location: SourceLocation; frame?: string }) {
    const where = `${params.location.file}:${params.location.line}:${params.location.column}`;
    super("WAYMARK_UNSUPPORTED_PATTERN", `${params.message}\n  at ${where}${params.frame ? `\n\n${params.frame}\n` : "\n"}\nHint: ${params.hint}`);
    this.name = "UnsupportedPatternError";
    this.rule = params.rule;
    this.file = params.location.file;
    this.line = params.location.line;
    this.column = params.location.column;
    this.hint = params.hint;
  }
}

/** A workflow instance failed: the caller's `run()` and `handle.result()` reject with this. */
export class WorkflowFailedError extends WaymarkError {
  readonly instanceId: string;
  readonly workflowName: string;
  /** The original error's name (its class name where a subclass kept `name` as "Error"). */
  readonly errorName: string;
  readonly errorMessage: string;
  constructor(params: { instanceId: string; workflowName: string; errorName: string; errorMessage: string; cause?: unknown }) {
    super("WAYMARK_WORKFLOW_FAILED", `workflow ${params.workflowName} (instance ${params.instanceId}) failed: ${params.errorName}: ${params.errorMessage}`, {
      cause: params.cause,
    });
    this.name = "WorkflowFailedError";
    this.instanceId = params.instanceId;
    this.workflowName = params.workflowName;
    this.errorName = params.errorName;
    this.errorMessage = params.errorMessage;
  }
}

/** The instance was cancelled before it finished. */
export class WorkflowCancelledError extends WaymarkError {
  readonly instanceId: string;
  readonly workflowName: string;
  constructor(params: { instanceId: string; workflowName: string }) {
    super("WAYMARK_WORKFLOW_CANCELLED", `workflow ${params.workflowName} (instance ${params.instanceId}) was cancelled`);
    this.name = "WorkflowCancelledError";
    this.instanceId = params.instanceId;
    this.workflowName = params.workflowName;
  }
}

/**
 * No such instance: `sendEvent` to an id never queued (or removed after its retention period),
 * or a handle from `getInstance` with an unknown or malformed id.
 */
export class InstanceNotFoundError extends WaymarkError {
  readonly instanceId: string;
  constructor(instanceId: string, detail = "") {
    super("WAYMARK_NOT_FOUND", `no workflow instance ${instanceId}${detail}`);
    this.name = "InstanceNotFoundError";
    this.instanceId = instanceId;
  }
}

/** `sendEvent` to an instance that has completed, failed or been cancelled: nothing is stored. */
export class InstanceFinishedError extends WaymarkError {
  readonly instanceId: string;
  constructor(instanceId: string) {
    super("WAYMARK_INSTANCE_FINISHED", `workflow instance ${instanceId} has finished: it takes no more events (nothing was stored)`);
    this.name = "InstanceFinishedError";
    this.instanceId = instanceId;
  }
}

/** Why an attempt's `actionContext().signal` aborted: the `reason` the action sees. */
export function abortReason(reason: "timeout" | "cancelled" | "shutdown"): WaymarkError {
  const why = reason === "timeout" ? "the action timed out" : reason === "cancelled" ? "the workflow was cancelled" : "the worker is shutting down";
  return new WaymarkError(reason === "timeout" ? "WAYMARK_ACTION_TIMEOUT" : "WAYMARK_WORKFLOW_CANCELLED", why);
}

/** An action attempt ran out of time or its child process died. Retried by default. */
export class ActionTimeout extends WaymarkError {
  constructor(message: string) {
    super("WAYMARK_ACTION_TIMEOUT", message);
    this.name = "ActionTimeout";
  }
}

/** A value that cannot round-trip through Postgres (a function, a class instance, ...). */
export class SerializationError extends WaymarkError {
  constructor(message: string) {
    super("WAYMARK_SERIALIZATION", message);
    this.name = "SerializationError";
  }
}

/** Two actions with one name, an anonymous action, an unknown workflow, ... */
export class RegistrationError extends WaymarkError {
  constructor(message: string) {
    super("WAYMARK_REGISTRATION", message);
    this.name = "RegistrationError";
  }
}
