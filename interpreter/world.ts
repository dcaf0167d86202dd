/**
 * What the workflow's calls that reach the world give: the values and errors a wait, a send or a
 * child ends with. The checks on what they take (core/mailbox.ts) run where the workflow calls
 * them, so a bad value throws there, catchably.
 */
import { decode, errorFromData, type Encoded, type ErrorData } from "../core/codec.js";

function madeError(data: ErrorData): Error {
  return errorFromData(data) as Error;
}

/** The error a workflow's `sendEvent` to an unknown instance throws. */
export function instanceNotFound(id: string): Error {
  return madeError({
    name: "InstanceNotFoundError",
    message: `no workflow instance ${id}`,
    fields: { code: "WAYMARK_NOT_FOUND", instanceId: id },
  });
}

/** The error a workflow's `sendEvent` to a finished instance throws. */
export function instanceFinished(id: string): Error {
  return madeError({
    name: "InstanceFinishedError",
    message: `workflow instance ${id} has finished: it takes no more events (nothing was stored)`,
    fields: { code: "WAYMARK_INSTANCE_FINISHED", instanceId: id },
  });
}

/** A child workflow that cannot start: no version of it was ever registered. */
export function noVersion(workflow: string): Error {
  return madeError({
    name: "WorkflowNotFoundError",
    message: `no version of workflow ${workflow} is registered: start it once from a process that imports it (its parent's process registers it with the parent)`,
    fields: { code: "WAYMARK_NOT_FOUND", workflowName: workflow },
  });
}

/**
 * The idempotency key a workflow's `sendEvent` is stored with: the one it gave, else its step's
 * own, so a send written again (after a crash) stores nothing twice.
 */
export function sendKey(instanceId: string, effect: { seq: number; key: string | null }): string {
  return effect.key ?? `from:${instanceId}:${effect.seq}`;
}

/** A child's outcome, as its waiting parent's mailbox holds it (waymark.child_finished). */
export interface ChildOutcome {
  status: "completed" | "failed" | "cancelled";
  workflow: string;
  result: Encoded | null;
  error: Encoded | null;
}

/**
 * What `await new Child().run()` gives: the child's result, or throws what the app's `run()`
 * would: `WorkflowFailedError` (errorName, errorMessage, instanceId; its cause the child's
 * error) or `WorkflowCancelledError`.
 */
export function childSettlement(id: string, o: ChildOutcome): { ok: boolean; value: unknown } {
  if (o.status === "completed") return { ok: true, value: o.result === null ? undefined : decode(o.result) };
  if (o.status === "cancelled") {
    return {
      ok: false,
      value: madeError({
        name: "WorkflowCancelledError",
        message: `workflow ${o.workflow} (instance ${id}) was cancelled`,
        fields: { code: "WAYMARK_WORKFLOW_CANCELLED", instanceId: id, workflowName: o.workflow },
      }),
    };
  }
  const e = (o.error ?? {}) as Record<string, unknown>;
  const errorName = typeof e.name === "string" ? e.name : "Error";
  const errorMessage = typeof e.message === "string" ? e.message : "";
  const data: ErrorData = {
    name: "WorkflowFailedError",
    message: `workflow ${o.workflow} (instance ${id}) failed: ${errorName}: ${errorMessage}`,
    fields: { code: "WAYMARK_WORKFLOW_FAILED", instanceId: id, workflowName: o.workflow, errorName, errorMessage },
  };
  if (o.error !== null) data.cause = o.error;
  return { ok: false, value: madeError(data) };
}
