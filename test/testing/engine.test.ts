import test from "ava";
import { InstanceFinishedError, InstanceNotFoundError, SerializationError, type WorkflowFailedError } from "waymark";
import { TestEnvironment } from "waymark/testing";
import { Approval, Messenger, Money, Parent, ParentOfWaiter, SleepsAWeek, Spins, TakesThree, WaitsForEver } from "./fixtures/workflows.js";

/**
 * testing/engine.ts: what Postgres does for a supervisor, in memory: mailboxes, sends from
 * workflows, publications, children and their ends, and cancellation reaching children.
 */
const T0 = Date.UTC(2025, 0, 1);

async function environment(t: { teardown(fn: () => unknown): void }) {
  const env = await TestEnvironment.create({ now: T0 });
  t.teardown(() => env.close());
  return env;
}

test("a mailbox is a FIFO: messages sent before the waits are kept, and an idempotency key stores once", async (t) => {
  const env = await environment(t);
  const h = await env.start(TakesThree, []);
  await h.sendEvent("item", "a", { idempotencyKey: "k1" });
  await h.sendEvent("item", "a again", { idempotencyKey: "k1" });
  await env.sendEvent(h.instanceId, "other", "not taken");
  await h.sendEvent("item", { b: new Date(T0) });
  await h.sendEvent("item", undefined);
  t.deepEqual(await h.result(), ["a", { b: new Date(T0) }, undefined]);
});

test("sendEvent refuses an unknown or finished instance and a payload that cannot be stored, storing nothing", async (t) => {
  const env = await environment(t);
  await t.throwsAsync(env.sendEvent("0197f000-0000-7000-8000-000000000000", "x", 1), { instanceOf: InstanceNotFoundError });
  await t.throwsAsync(env.sendEvent("nope", "x", 1), { instanceOf: InstanceNotFoundError });
  const h = await env.start(TakesThree, []);
  await t.throwsAsync(h.sendEvent("item", new Money(1)), { instanceOf: SerializationError, message: /the payload of event "item"/ });
  await t.throwsAsync(h.sendEvent("", 1), { instanceOf: TypeError, message: /an event name must be a non-empty string/ });
  for (const item of [1, 2, 3]) await h.sendEvent("item", item);
  t.deepEqual(await h.result(), [1, 2, 3]);
  await t.throwsAsync(h.sendEvent("item", 4), { instanceOf: InstanceFinishedError });
});

test("a workflow's sendEvent reaches another instance, once per step; to an unknown instance it throws InstanceNotFoundError in the workflow", async (t) => {
  const env = await environment(t);
  const taker = await env.start(TakesThree, []);
  for (const text of ["x", "y", "z"]) t.is(await env.run(Messenger, [taker.instanceId, text]), "sent");
  t.deepEqual(await taker.result(), ["x", "y", "z"]);
  const e = await t.throwsAsync<WorkflowFailedError>(env.run(Messenger, ["0197f000-0000-7000-8000-000000000000", "lost"]));
  t.is(e?.errorName, "InstanceNotFoundError");
});

test("an event's deadline gives undefined; published values are read during and after the run", async (t) => {
  const env = await environment(t);
  const h = await env.start(Approval, ["o-3", 1]);
  t.is(await h.published("stage"), "waiting");
  t.is(await h.published("missing"), undefined);
  t.is(await h.result(), "escalated o-3");
  t.is(await h.published("stage"), "escalated");
  t.is(env.now(), T0 + 86_400_000);
});

test("children run as instances: results in order, a failed child caught as WorkflowFailedError, a detached one runs on", async (t) => {
  const env = await environment(t);
  const h = await env.start(Parent, [[1, -1, 2]]);
  t.deepEqual(await h.result(), {
    results: [2, "WorkflowFailedError: RangeError: negative: -1", 3],
    detached: "string",
  });
  // The children slept a minute; the detached one sleeps a week and was not waited for.
  t.is(env.now(), T0 + 60_000);
  const children = await h.children();
  t.deepEqual(
    children.map((c) => [c.workflow, c.status, c.detached]),
    [
      ["Child", "completed", false],
      ["Child", "failed", false],
      ["Child", "completed", false],
      ["SleepsAWeek", "sleeping", true],
    ],
  );
  t.is(await env.getInstance(children[3]!.instanceId).result(), "detached woke");
  // A detached start with the same key is the same instance.
  const again = await env.start(Parent, [[1, -1, 2]]);
  await again.result();
  t.is(env.instances({ workflow: SleepsAWeek }).length, 1);
});

test("cancelling a parent cancels the child it waits for; cancelling a child fails the parent that waits for it", async (t) => {
  const env = await environment(t);
  const parent = await env.start(ParentOfWaiter, []);
  const [child] = await parent.children();
  t.is(child!.status, "sleeping");
  await parent.cancel();
  t.is(await env.getInstance(child!.instanceId).status(), "cancelled");
  const e = await t.throwsAsync(env.getInstance(child!.instanceId).result());
  t.is(e?.name, "WorkflowCancelledError");

  const parent2 = await env.start(ParentOfWaiter, []);
  const [child2] = await parent2.children();
  await env.getInstance(child2!.instanceId).cancel();
  const failed = await t.throwsAsync<WorkflowFailedError>(parent2.result());
  t.is(failed?.errorName, "WorkflowCancelledError");
  t.is(failed?.errorMessage, `workflow WaitsForEver (instance ${child2!.instanceId}) was cancelled`);
});

test("a sleeping instance is cancelled at once; instances() lists each with its status", async (t) => {
  const env = await environment(t);
  const a = await env.start(SleepsAWeek, ["a"]);
  const b = await env.start(WaitsForEver, []);
  await a.cancel();
  t.deepEqual(
    env.instances().map((i) => [i.workflowName, i.status]),
    [
      ["SleepsAWeek", "cancelled"],
      ["WaitsForEver", "sleeping"],
    ],
  );
  t.deepEqual(
    env.instances({ status: "sleeping" }).map((i) => i.instanceId),
    [b.instanceId],
  );
});

test("a long computation hands the event loop back and goes on; past the step limit the instance fails, as in production", async (t) => {
  const env = await environment(t);
  t.is(await env.run(Spins, [200_000]), 199_999 * 100_000);
  const strict = await TestEnvironment.create({ workflowStepLimit: 10_000 });
  t.teardown(() => strict.close());
  const e = await t.throwsAsync<WorkflowFailedError>(strict.run(Spins, [200_000]));
  t.is(e?.errorName, "WorkflowLimitError");
  t.regex(e!.errorMessage, /workflow Spins ran 10000 steps without waiting/);
});
