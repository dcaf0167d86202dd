import type pg from "pg";
import { loadConfig, type WaymarkConfig } from "../config/env.js";
import { checkSize, decode, encode, type Encoded, type ErrorData } from "../core/codec.js";
import { WorkflowCancelledError, WorkflowFailedError } from "../core/errors.js";
import type { InstanceOutcome } from "../store/instances.js";

/**
 * The SDK's settings: its view of the environment, the options of `start()`, and how a finished
 * instance becomes its result or error.
 */
let configCache: WaymarkConfig | undefined;

/** The SDK's view of the environment, read once. */
export function sdkConfig(): WaymarkConfig {
  return (configCache ??= loadConfig().config);
}

/** Reads the environment afresh on the next use (after `close()`). */
export function sdkConfigReset(): void {
  configCache = undefined;
}

export interface StartOptions {
  /** A second start with the same key (and workflow) returns the first instance. */
  idempotencyKey?: string;
  /** Higher runs first among queued instances. @default 0 */
  priority?: number;
  /** Do not start before this many milliseconds from now. @default 0 */
  delayMs?: number;
  /** A `pg` client in the caller's transaction: the instance is queued only if it commits. */
  client?: pg.ClientBase;
}

/**
 * What `start()` is given, checked before anything is queued (by the SDK, and by waymark/testing's
 * environment): the options' values, and the arguments, encoded and size-checked as they will be
 * stored (one that cannot be is refused, naming it).
 */
export function startCheck(workflowName: string, args: unknown[], options: StartOptions, maxValueBytes: number): Encoded[] {
  const encoded = args.map((a, i) => encode(a, `argument ${i + 1} of workflow ${workflowName}`));
  checkSize(encoded, `the arguments of workflow ${workflowName}`, maxValueBytes);
  if (options.priority !== undefined && !Number.isInteger(options.priority))
    throw new TypeError(`priority must be an integer, got ${String(options.priority)}`);
  if (options.delayMs !== undefined && !(Number.isFinite(options.delayMs) && options.delayMs >= 0))
    throw new TypeError(`delayMs must be a number >= 0, got ${String(options.delayMs)}`);
  const key = options.idempotencyKey;
  if (key !== undefined && (typeof key !== "string" || key.length === 0 || key.length > 1000 || key.includes("\u0000"))) {
    throw new TypeError(`idempotencyKey must be a non-empty string of at most 1000 characters without NUL, got ${JSON.stringify(String(key).slice(0, 100))}`);
  }
  return encoded;
}

function errorData(value: Encoded | null): ErrorData {
  const d = (value ?? {}) as Record<string, unknown>;
  return { name: typeof d.name === "string" ? d.name : "Error", message: typeof d.message === "string" ? d.message : "" };
}

/** Turns a finished instance into its result, or the error `run()` rejects with. */
export function outcomeValue(o: InstanceOutcome): unknown {
  if (o.status === "completed") return o.result === null ? undefined : decode(o.result);
  if (o.status === "cancelled") throw new WorkflowCancelledError({ instanceId: o.id, workflowName: o.workflowName });
  const data = errorData(o.error);
  const cause = o.error ? decode(o.error) : undefined;
  throw new WorkflowFailedError({ instanceId: o.id, workflowName: o.workflowName, errorName: data.name, errorMessage: data.message, cause });
}
