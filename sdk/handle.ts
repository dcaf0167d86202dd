/**
 * Handles on instances: what `start()` returns and `getInstance(id)` makes, with the instance's
 * result, status, cancellation, mailboxes (`sendEvent`), published values and children; and
 * `sendEvent` by id.
 */
import { checkSize, encode, type Encoded } from "../core/codec.js";
import { InstanceNotFoundError } from "../core/errors.js";
import { checkName, idempotencyKey, isInstanceId } from "../core/mailbox.js";
import type { InstanceStatus } from "../store/instances.js";
import { sdkConfig, sharedClient } from "./client.js";

export interface SendEventOptions {
  /** A key already used for this instance (with any event name) stores nothing: the send is idempotent. */
  idempotencyKey?: string;
}

/** A child instance, as `handle.children()` lists it. */
export interface ChildInfo {
  instanceId: string;
  workflow: string;
  status: InstanceStatus;
  detached: boolean;
}

/**
 * What a handle asks about its instance, given a checked id and checked values: the process's
 * Postgres client (sdk/connection.ts), or a waymark/testing environment's memory.
 */
export interface InstanceBackend {
  result(id: string): Promise<unknown>;
  status(id: string): Promise<InstanceStatus>;
  cancel(id: string, workflowName?: string): Promise<unknown>;
  sendEvent(id: string, name: string, payload: Encoded, key: string | null): Promise<void>;
  published(id: string, key: string, waitMs: number): Promise<unknown>;
  children(id: string): Promise<ChildInfo[]>;
  /** WAYMARK_MAX_VALUE_BYTES, where the backend has its own. */
  readonly maxValueBytes?: number;
}

/**
 * The checks `sendEvent` makes before anything is sent: the name, the payload (encoded and
 * size-checked: one that cannot be stored is refused), the options, and the id.
 */
function eventCheck(
  instanceId: string,
  name: string,
  payload: unknown,
  options: SendEventOptions,
  maxValueBytes: () => number,
): { id: string; name: string; payload: Encoded; key: string | null } {
  const event = checkName(name, "an event name");
  const encoded = encode(payload, `the payload of event ${JSON.stringify(event)}`);
  checkSize(encoded, `the payload of event ${JSON.stringify(event)}`, maxValueBytes());
  const key = idempotencyKey(options, "sendEvent");
  if (!isInstanceId(instanceId)) throw new InstanceNotFoundError(String(instanceId), ": instance ids are UUIDs");
  return { id: instanceId.toLowerCase(), name: event, payload: encoded, key };
}

/**
 * Appends a message to the mailbox `name` of an instance; the oldest waiting `waitForEvent(name)`
 * takes it (or the next one to wait). Rejects with InstanceNotFoundError for an unknown id and
 * InstanceFinishedError for a finished instance (nothing is stored); a payload that cannot be
 * stored is refused before anything is sent.
 */
export async function sendEvent(instanceId: string, name: string, payload?: unknown, options: SendEventOptions = {}): Promise<void> {
  const e = eventCheck(instanceId, name, payload, options, () => sdkConfig().maxValueBytes);
  await (await sharedClient()).sendEvent(e.id, e.name, e.payload, e.key);
}

/** A queued instance. */
export class WorkflowHandle<T = unknown> {
  constructor(
    readonly instanceId: string,
    /** Known when the handle came from start(); a handle from getInstance() has only the id. */
    readonly workflowName?: string,
    /** Where it asks: the process's Postgres client unless given (waymark/testing gives its environment). */
    private readonly backend?: InstanceBackend,
  ) {}

  private client(): Promise<InstanceBackend> {
    return this.backend ? Promise.resolve(this.backend) : sharedClient();
  }

  /** The id, or InstanceNotFoundError when it cannot name an instance. */
  private id(): string {
    if (!isInstanceId(this.instanceId)) throw new InstanceNotFoundError(this.instanceId, ": instance ids are UUIDs");
    return this.instanceId;
  }

  /** Appends a message to this instance's mailbox `name` (see `sendEvent`). */
  async sendEvent(name: string, payload?: unknown, options: SendEventOptions = {}): Promise<void> {
    const limit = this.backend?.maxValueBytes;
    const e = eventCheck(this.id(), name, payload, options, () => limit ?? sdkConfig().maxValueBytes);
    await (await this.client()).sendEvent(e.id, e.name, e.payload, e.key);
  }

  /**
   * The latest value the instance published under `key` (also after it finished), or
   * `undefined`; with `waitMs`, waits up to that long for a first value (woken by NOTIFY).
   */
  async published<V = unknown>(key: string, options: { waitMs?: number } = {}): Promise<V | undefined> {
    const k = checkName(key, "a publish key");
    const waitMs = options.waitMs ?? 0;
    if (typeof waitMs !== "number" || !(waitMs >= 0)) throw new RangeError(`waitMs must be a number >= 0, got ${String(waitMs)}`);
    return (await (await this.client()).published(this.id(), k, waitMs)) as V | undefined;
  }

  /** The child workflows this instance started, in start order. */
  async children(): Promise<ChildInfo[]> {
    return (await this.client()).children(this.id());
  }

  /** The result, or a WorkflowFailedError / WorkflowCancelledError. */
  async result(): Promise<T> {
    return (await (await this.client()).result(this.id())) as T;
  }

  async status(): Promise<InstanceStatus> {
    return (await this.client()).status(this.id());
  }

  /**
   * Cancels the instance: a queued or sleeping one at once; a running one dispatches nothing
   * new, its in-flight actions' signals abort, and it ends `cancelled`. `result()` then rejects
   * with WorkflowCancelledError. Cancelling a finished instance changes nothing.
   */
  async cancel(): Promise<void> {
    await (await this.client()).cancel(this.id(), this.workflowName);
  }
}

/** A handle to an existing instance, by id. Its methods reject with InstanceNotFoundError for an unknown or malformed id. */
export function getInstance<T = unknown>(instanceId: string): WorkflowHandle<T> {
  return new WorkflowHandle<T>(typeof instanceId === "string" ? instanceId.toLowerCase() : String(instanceId));
}
