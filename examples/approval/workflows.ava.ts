/**
 * The approval workflow tested with ava, in waymark/testing's environment. ava runs the tests of
 * a file concurrently: each has an environment of its own. Run it with `npx ava
 * examples/approval/workflows.ava.ts` (ava's config loads waymark/register for TypeScript).
 */
import test from "ava";
import { TestEnvironment } from "waymark/testing";
import { escalate, OrderApproval, requestApproval } from "./workflows.js";

const DAY = 24 * 60 * 60 * 1000;

async function environment(t: { teardown(fn: () => unknown): void }) {
  const env = await TestEnvironment.create();
  t.teardown(() => env.close());
  return env;
}

test("an order approved on the last day ships", async (t) => {
  const env = await environment(t);
  const handle = await env.start(OrderApproval, ["o-1"]);
  await env.advanceTime(3 * DAY - 1);
  await handle.sendEvent("approval", { approved: true, by: "ada" });
  t.like(await handle.result(), { status: "approved", by: "ada" });
  t.is(await handle.published("stage"), "shipped");
});

test("if nobody approves within three days it escalates to the director", async (t) => {
  const env = await environment(t);
  const handle = await env.start(OrderApproval, ["o-2"]);
  t.is(await handle.status(), "sleeping");
  t.deepEqual(await handle.result(), { status: "escalated", ticket: "ESC-o-2-director" });
  t.deepEqual(
    env.calls(escalate).map((c) => c.args),
    [["o-2", "director"]],
  );
});

test("a failing email is not retried by default: the instance fails with the action's error", async (t) => {
  const env = await environment(t);
  env.mockAction(requestApproval, async () => {
    throw Object.assign(new Error("smtp down"), { name: "MailError" });
  });
  const e = await t.throwsAsync<Error & { errorName: string }>(env.run(OrderApproval, ["o-3"]));
  t.is(e?.errorName, "MailError");
  t.is(env.calls(requestApproval).length, 1);
});
