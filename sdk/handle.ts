/**
 * Handles on instances: what `start()` returns and `getInstance(id)` makes, with the instance's
 * result, status, cancellation, mailboxes (`sendEvent`), published values and children; and
 * `sendEvent` by id.
 */
import { checkSize, encode } from "../core/codec.js";
import { InstanceNotFoundError } from "../core/errors.js";
import { checkName, idempotencyKey, isInstanceId } from "../core/mailbox.js";
import type { InstanceStatus } from "../store/instances.js";
import { sdkConfig, sharedClient } from "./client.js";

export interface SendEventOptions {
  /** A key already used for this instance (with any event name) stores nothing: the send is idempotent. */
  idempotencyKey?: string;
}

/**
 * Appends a message to the mailbox `name` of an instance; the oldest waiting `waitForEvent(name)`
 * takes it (or the next one to wait). Rejects with InstanceNotFoundError for an unknown id and
 * InstanceFinishedError for a finished instance (nothing is stored); a payload that cannot be
 * stored is refused before anything is sent.
 */
export async function sendEvent(instanceId: string, name: string, payload?: unknown, options: SendEventOptions = {}): Promise<void> {
  const event = checkName(name, "an event name");
  const encoded = encode(payload, `the payload of event ${JSON.stringify(event)}`);
  checkSize(encoded, `the payload of event ${JSON.stringify(event)}`, sdkConfig().maxValueBytes);
  const key = idempotencyKey(options, "sendEvent");
  if (!isInstanceId(instanceId)) throw new InstanceNotFoundError(String(instanceId), ": instance ids are UUIDs");
  await (await sharedClient()).sendEvent(instanceId.toLowerCase(), event, encoded, key);
}

/** A queued instance. */
export class WorkflowHandle<T = unknown> {
  constructor(
    readonly instanceId: string,
    /** Known when the handle came from start(); a handle from getInstance() has only the id. */
    readonly workflowName?: string,
  ) {}

  /** The id, or InstanceNotFoundError when it cannot name an instance. */
  private id(): string {
    if (!isInstanceId(this.instanceId)) throw new InstanceNotFoundError(this.instanceId, ": instance ids are UUIDs");
    return this.instanceId;
  }

  /** Appends a message to this instance's mailbox `name` (see `sendEvent`). */
  async sendEvent(name: string, payload?: unknown, options: SendEventOptions = {}): Promise<void> {
    await sendEvent(this.id(), name, payload, options);
  }

  /**
   * The latest value the instance published under `key` (also after it finished), or
   * `undefined`; with `waitMs`, waits up to that long for a first value (woken by NOTIFY).
   */
  async published<V = unknown>(key: string, options: { waitMs?: number } = {}): Promise<V | undefined> {
    const k = checkName(key, "a publish key");
    const waitMs = options.waitMs ?? 0;
    if (typeof waitMs !== "number" || !(waitMs >= 0)) throw new RangeError(`waitMs must be a number >= 0, got ${String(waitMs)}`);
    return (await (await sharedClient()).published(this.id(), k, waitMs)) as V | undefined;
  }

  /** The child workflows this instance started, in start order. */
  async children(): Promise<Array<{ instanceId: string; workflow: string; status: InstanceStatus; detached: boolean }>> {
    return (await sharedClient()).children(this.id());
  }

  /** The result, or a WorkflowFailedError / WorkflowCancelledError. */
  async result(): Promise<T> {
    return (await (await sharedClient()).result(this.id())) as T;
  }

  async status(): Promise<InstanceStatus> {
    return (await sharedClient()).status(this.id());
  }

  /**
   * Cancels the instance: a queued or sleeping one at once; a running one dispatches nothing
   * new, its in-flight actions' signals abort, and it ends `cancelled`. `result()` then rejects
   * with WorkflowCancelledError. Cancelling a finished instance changes nothing.
   */
  async cancel(): Promise<void> {
    await (await sharedClient()).cancel(this.id(), this.workflowName);
  }
}

/** A handle to an existing instance, by id. Its methods reject with InstanceNotFoundError for an unknown or malformed id. */
export function getInstance<T = unknown>(instanceId: string): WorkflowHandle<T> {
  return new WorkflowHandle<T>(typeof instanceId === "string" ? instanceId.toLowerCase() : String(instanceId));
}
