import type pg from "pg";
import { loadConfig, type WaymarkConfig } from "../config/env.js";
import { decode, type Encoded, type ErrorData } from "../core/codec.js";
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
