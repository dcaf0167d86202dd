import { randomBytes } from "node:crypto";
import type pg from "pg";
import { loadConfig, type WaymarkConfig } from "../config/env.js";
import type { InstanceOutcome } from "../store/instances.js";
import { decode, type Encoded, type ErrorData } from "./codec.js";
import type { WaymarkClient } from "./connection.js";
import { WorkflowCancelledError, WorkflowFailedError } from "./errors.js";

export type { WaymarkClient };

/**
 * The SDK's configuration and its process-wide connection. The connection (sdk/connection.ts,
 * with pg and the store) loads on first use.
 */
let configCache: WaymarkConfig | undefined;

/** The SDK's view of the environment, read once. */
export function sdkConfig(): WaymarkConfig {
  return (configCache ??= loadConfig().config);
}

/** UUIDv7: time-ordered, so new rows land at the right edge of the primary key index. */
export function uuidv7(): string {
  const bytes = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
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

let shared: Promise<WaymarkClient> | undefined;

/** The process-wide client, connected on first use (pg and the store load then, not at import). */
export function sharedClient(): Promise<WaymarkClient> {
  shared ??= import("./connection.js").then((m) => m.connect());
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}

/**
 * Closes the shared connection (tests, scripts that want a clean exit). The next use connects
 * again, reading the environment afresh.
 */
export async function closeClient(): Promise<void> {
  const c = shared;
  shared = undefined;
  configCache = undefined;
  if (c) await (await c).close();
}
