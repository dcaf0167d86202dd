/**
 * The supervisor-child protocol: every message that crosses the IPC channel, in one place.
 * Messages batch (one `run` carries many tasks, one `results` many results) so a busy pool
 * makes one IPC round trip per tick, not per action. Errors cross as data. The private
 * WAYMARK_CHILD_* variables a supervisor sets for its children are named here too.
 */
import type { ActionLimits } from "../core/flow.js";
import type { Encoded, ErrorData } from "../core/codec.js";

/** One action attempt to run. `id` is the attempt token: a late result for a stale token is discarded. */
export interface Task {
  id: string;
  action: string;
  args: Encoded[];
  instanceId: string;
  actionId: string;
  attempt: number;
  /** The W3C traceparent of the instance's span, when it is traced: the attempt's span is its child. */
  trace?: string;
  /** The latest progress an earlier attempt of this call recorded. */
  progress?: Encoded;
}

export type TaskResult = { id: string; ok: true; value: Encoded } | { id: string; ok: false; error: ErrorData };

export interface CompiledWorkflowInfo {
  name: string;
  hash: string;
  ir: unknown;
  file: string;
  /** The line the class starts on (the IR's positions count from it). */
  line: number;
}

export type ToChild =
  | { t: "run"; tasks: Task[] }
  /** Abort these attempts' signals (timeout, cancellation, shutdown). */
  | { t: "abort"; ids: string[]; reason: "timeout" | "cancelled" | "shutdown" }
  /** Take no more work; exit once the in-flight actions settle. */
  | { t: "retire" };

export type FromChild =
  /** The user modules loaded: the actions and workflows they registered. */
  | { t: "ready"; pid: number; actions: string[]; workflows: CompiledWorkflowInfo[]; limits?: Record<string, ActionLimits> }
  /**
   * A user module failed to load (the child then exits): at start-up the supervisor fails to
   * start with this error; a replacement child's is logged and retried with backoff.
   */
  | { t: "load-error"; module: string; error: ErrorData }
  | { t: "results"; results: TaskResult[] }
  /** The latest progress of running attempts (a few a second at most per attempt). */
  | { t: "progress"; items: Array<{ id: string; progress: Encoded }> }
  /** After `retire`: every result is sent; the child exits. */
  | { t: "retired" };

/** Marks the environment of a forked child: the entry refuses to run without it. */
export const CHILD_ENV = "WAYMARK_CHILD";
/** The user modules to load, as JSON (set by the supervisor). */
export const CHILD_MODULES_ENV = "WAYMARK_CHILD_MODULES";
/** Concurrent actions per child. */
export const CHILD_CONCURRENCY_ENV = "WAYMARK_CHILD_CONCURRENCY";
/** WAYMARK_MAX_VALUE_BYTES: a larger result fails its attempt in the child, before it is sent. */
export const CHILD_MAX_VALUE_BYTES_ENV = "WAYMARK_CHILD_MAX_VALUE_BYTES";
/**
 * "1" for the one process that compiles the user modules' workflows at start-up, reports them
 * ("ready" with their IR) and exits. Action children never compile: they load neither the
 * compiler nor swc.
 */
export const CHILD_INSPECT_ENV = "WAYMARK_CHILD_INSPECT";
