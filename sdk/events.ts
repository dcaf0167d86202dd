/**
 * The workflow's side of events: it waits for messages (`waitForEvent`) and publishes values
 * (`publish`). Inside a workflow the compiler turns these calls into durable steps
 * (compiler/call.ts); outside one they have no instance to act on and say so. The app's side
 * (`sendEvent`, `getInstance`, a handle's `published`) is in handle.ts.
 */
import { WaymarkError } from "../core/errors.js";

function onlyInWorkflows(what: string): never {
  throw new WaymarkError(
    "WAYMARK_NOT_IN_ACTION",
    `${what} runs only inside a workflow's run(), where waymark makes it a durable step: this call ran as plain code (outside a workflow, or a workflow body called directly)`,
  );
}

/**
 * Inside a workflow: waits for the next message of the mailbox `name` (the oldest one not yet
 * taken, exactly once) and gives its payload, or `undefined` after `timeoutMs`. The instance
 * leaves memory while it waits.
 */
export async function waitForEvent<T = unknown>(name: string, options?: { timeoutMs?: number }): Promise<T | undefined> {
  void name;
  void options;
  return onlyInWorkflows("waitForEvent()");
}

/** Inside a workflow: sets the instance's latest value for `key`, durably; callers read it with `handle.published(key)`. */
export async function publish(key: string, value: unknown): Promise<void> {
  void key;
  void value;
  return onlyInWorkflows("publish()");
}
