/**
 * The approval workflow tested with node:test, in waymark/testing's environment: no Postgres, no
 * supervisor, no waiting. Run it with
 *
 *   node --import waymark/register --test examples/approval/workflows.test.ts
 *
 * (in this repository: node --import ./dist/loader/register.js --test examples/approval/workflows.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestEnvironment } from "waymark/testing";
import { escalate, OrderApproval, requestApproval, shipOrder } from "./workflows.js";

const DAY = 24 * 60 * 60 * 1000;

test("an order approved within three days ships", async () => {
  const env = await TestEnvironment.create();
  try {
    env.mockAction(shipOrder, async (orderId) => ({ trackingId: `T-${orderId}` }));
    const handle = await env.start(OrderApproval, ["o-1"]);
    assert.equal(await handle.published("stage"), "waiting for approval");
    await env.advanceTime(2 * DAY);
    await handle.sendEvent("approval", { approved: true, by: "ada" });
    assert.deepEqual(await handle.result(), { status: "approved", by: "ada", trackingId: "T-o-1" });
    assert.deepEqual(env.calls(requestApproval)[0]?.args, ["o-1", "manager"]);
    assert.equal(env.calls(escalate).length, 0);
  } finally {
    await env.close();
  }
});

test("if nobody approves within three days it escalates", async () => {
  const env = await TestEnvironment.create();
  try {
    const started = env.now();
    const result = await env.run(OrderApproval, ["o-2"]); // three virtual days pass at once
    assert.deepEqual(result, { status: "escalated", ticket: "ESC-o-2-director" });
    assert.equal(env.now() - started, 3 * DAY);
    assert.deepEqual(
      env.calls(escalate).map((c) => c.args),
      [["o-2", "director"]],
    );
  } finally {
    await env.close();
  }
});

test("a rejection ends it without shipping", async () => {
  const env = await TestEnvironment.create();
  try {
    const handle = await env.start(OrderApproval, ["o-3"]);
    await handle.sendEvent("approval", { approved: false, by: "grace" });
    assert.deepEqual(await handle.result(), { status: "rejected", by: "grace" });
    assert.equal(await handle.published("stage"), "rejected");
    assert.equal(env.calls(shipOrder).length, 0);
  } finally {
    await env.close();
  }
});
