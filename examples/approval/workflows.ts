/**
 * The approval example: ask a manager to approve an order, wait up to three days for the
 * answer (an event sent by the app when the manager clicks a link), and escalate to a director if
 * nobody answers. The tests beside it (workflows.test.ts for node:test, workflows.ava.ts for ava)
 * run it in waymark/testing's environment: three days take milliseconds.
 */
import { action, publish, waitForEvent, workflow, Workflow } from "waymark";

export interface Decision {
  approved: boolean;
  by: string;
}

/** Emails the approver a link; the link's handler calls `sendEvent(instanceId, "approval", decision)`. */
export const requestApproval = action(async function requestApproval(orderId: string, approver: string): Promise<{ sentTo: string }> {
  return { sentTo: `${approver}@example.com (order ${orderId})` };
});

export const escalate = action(async function escalate(orderId: string, to: string): Promise<{ ticket: string }> {
  return { ticket: `ESC-${orderId}-${to}` };
});

export const shipOrder = action(async function shipOrder(orderId: string): Promise<{ trackingId: string }> {
  return { trackingId: `track-${orderId}` };
});

const DAY = 86_400_000;

@workflow
export class OrderApproval extends Workflow {
  async run(orderId: string) {
    await requestApproval(orderId, "manager");
    await publish("stage", "waiting for approval");
    const decision = await waitForEvent<Decision>("approval", { timeoutMs: 3 * DAY });
    if (decision === undefined) {
      const { ticket } = await escalate(orderId, "director");
      await publish("stage", "escalated");
      return { status: "escalated", ticket };
    }
    if (!decision.approved) {
      await publish("stage", "rejected");
      return { status: "rejected", by: decision.by };
    }
    const { trackingId } = await shipOrder(orderId);
    await publish("stage", "shipped");
    return { status: "approved", by: decision.by, trackingId };
  }
}
