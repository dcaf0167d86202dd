import test from "ava";
import { actionContext, WorkflowCancelledError, type WorkflowFailedError } from "waymark";
import { TestEnvironment } from "waymark/testing";
import {
  CatchesThings,
  ChangesItsResult,
  ChargeOrder,
  chargeCard,
  emailSupport,
  FailsWith,
  Hangs,
  hang,
  listOf,
  StoresMoney,
  TimesOut,
  throwsThings,
  whatAttempt,
} from "./fixtures/workflows.js";

/**
 * testing/actions.ts: actions run in process, mocked or not; retries and backoffs on the virtual
 * clock, timeouts in real time, cancellation's abort, and the codec between actions and workflows.
 */
const T0 = Date.UTC(2025, 0, 1);
const MINUTE = 60_000;

async function environment(t: { teardown(fn: () => unknown): void }) {
  const env = await TestEnvironment.create({ now: T0 });
  t.teardown(() => env.close());
  return env;
}

test("after 3 failed charges it emails support: every attempt is recorded, with the backoff between them on the virtual clock", async (t) => {
  const env = await environment(t);
  env.mockAction(chargeCard, async (orderId, cents) => ({ receipt: `${orderId}/${cents}` }), { failFirst: 3 });
  t.is(await env.run(ChargeOrder, ["o-1", 500]), "emailed about o-1: testing.chargeCard failed on attempt 3 (mockAction failFirst: 3)");
  const calls = env.calls(chargeCard);
  t.deepEqual(
    calls.map((c) => [c.attempt, c.actionId, c.outcome.status, c.startedAt - T0]),
    [
      [1, "1", "failed", 0],
      [2, "1", "failed", MINUTE],
      [3, "1", "failed", 3 * MINUTE],
    ],
  );
  t.deepEqual(calls[0]!.args, ["o-1", 500]);
  const error = (calls[2]!.outcome as { error: Error }).error;
  t.is(error.message, "testing.chargeCard failed on attempt 3 (mockAction failFirst: 3)");
  // The unmocked action ran in process.
  t.deepEqual(
    env.calls(emailSupport).map((c) => [c.args, c.outcome]),
    [[["o-1", error.message], { status: "completed", value: "emailed about o-1: testing.chargeCard failed on attempt 3 (mockAction failFirst: 3)" }]],
  );
});

test("a charge that fails twice succeeds on its third attempt; a mock may be named, and may throw an error of its own per attempt", async (t) => {
  const env = await environment(t);
  env.mockAction("testing.chargeCard", async (orderId: string) => ({ receipt: `paid ${orderId}` }), {
    failFirst: 2,
    error: (attempt: number) => Object.assign(new Error(`declined (${attempt})`), { name: "CardDeclined", code: 51 }),
  });
  t.is(await env.run(ChargeOrder, ["o-2", 100]), "paid o-2");
  t.deepEqual(
    env.calls("testing.chargeCard").map((c) => c.outcome.status),
    ["failed", "failed", "completed"],
  );
  const first = (env.calls(chargeCard)[0]!.outcome as { error: Error & { code: number } }).error;
  t.is(first.name, "CardDeclined");
  t.is(first.code, 51);
  t.deepEqual(env.calls(emailSupport), []);
  t.is(env.now(), T0 + 3 * MINUTE);
});

test("mockAction refuses what is not an action, and a name nothing registered", async (t) => {
  const env = await environment(t);
  t.throws(
    () =>
      env.mockAction(
        async () => 1,
        async () => 2,
      ),
    { message: /takes an action \(a function made by action\(\)\) or its name, got the plain function/ },
  );
  t.throws(() => env.mockAction("testing.chargeCardd", async () => 2), {
    message: /no action named "testing.chargeCardd" is registered in this process \(registered: .*testing\.chargeCard/,
  });
  t.throws(() => env.mockAction(chargeCard, async () => ({ receipt: "" }), { failFirst: -1 }), { message: /failFirst must be a whole number >= 0/ });
});

test("actionContext() works in unmocked actions: attempt, actionId, instanceId and signal", async (t) => {
  const env = await environment(t);
  const h = await env.start(TimesOut, ["ctx"]);
  t.deepEqual(await h.result(), { label: "ctx", attempt: 1, actionId: "1", instanceId: h.instanceId, aborted: false });
});

test("an attempt past its timeout (real time) has its signal aborted and is retried after its backoff (virtual time); its late result is discarded", async (t) => {
  const env = await environment(t);
  const reasons: string[] = [];
  env.mockAction(whatAttempt, async (label) => {
    const c = actionContext();
    if (c.attempt < 3) {
      await new Promise((resolve) => c.signal.addEventListener("abort", resolve, { once: true }));
      reasons.push((c.signal.reason as Error).message);
      return { label: "late", attempt: c.attempt, actionId: c.actionId, instanceId: c.instanceId, aborted: true };
    }
    return { label, attempt: c.attempt, actionId: c.actionId, instanceId: c.instanceId, aborted: c.signal.aborted };
  });
  const h = await env.start(TimesOut, ["slow"]);
  const result = await h.result();
  t.deepEqual(result, { label: "slow", attempt: 3, actionId: "1", instanceId: h.instanceId, aborted: false });
  t.deepEqual(reasons, ["the action timed out", "the action timed out"]);
  const calls = env.calls(whatAttempt);
  t.deepEqual(
    calls.map((c) => [c.attempt, c.outcome.status, c.startedAt - T0]),
    [
      [1, "timed_out", 0],
      [2, "timed_out", 5_000],
      [3, "completed", 10_000],
    ],
  );
  const e = (calls[0]!.outcome as { error: Error }).error;
  t.is(e.name, "ActionTimeout");
  t.is(e.message, "testing.whatAttempt did not finish within 30 ms (attempt 1)");
});

test("cancelling an instance aborts its running action's signal; the attempt is recorded cancelled and its result discarded", async (t) => {
  const env = await environment(t);
  let aborted!: (reason: string) => void;
  const seen = new Promise<string>((resolve) => (aborted = resolve));
  env.mockAction(hang, async (label) => {
    const { signal } = actionContext();
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    aborted((signal.reason as Error).message);
    return `${label} finished anyway`;
  });
  const h = await env.start(Hangs, ["c"]);
  t.is(env.calls(hang)[0]!.outcome.status, "running");
  await h.cancel();
  t.is(await seen, "the workflow was cancelled");
  t.is(await h.status(), "cancelled");
  await t.throwsAsync(h.result(), { instanceOf: WorkflowCancelledError, message: `workflow Hangs (instance ${h.instanceId}) was cancelled` });
  const call = env.calls(hang)[0]!;
  t.is(call.outcome.status, "cancelled");
  t.is((call.outcome as { error: Error }).error.message, "the workflow was cancelled while testing.hang ran");
  // Cancelling a finished instance changes nothing.
  await h.cancel();
  t.is(await h.status(), "cancelled");
});

test("what actions throw crosses the codec as in production: a thrown string comes back as itself, an error keeps its name and fields", async (t) => {
  const env = await environment(t);
  t.deepEqual(await env.run(CatchesThings, ["string"]), { thrown: "boom" });
  t.deepEqual(await env.run(CatchesThings, ["fields"]), { name: "PaymentError", message: "card declined", code: "card_declined", retryable: false });
  const e = await t.throwsAsync<WorkflowFailedError>(env.run(FailsWith, ["fields"]));
  t.is(e?.name, "WorkflowFailedError");
  t.is(e?.errorName, "PaymentError");
  t.is(e?.errorMessage, "card declined");
  t.like(e?.cause, { name: "PaymentError", code: "card_declined", retryable: false });
  const thrown = env.calls(throwsThings).map((c) => (c.outcome as { error: unknown }).error);
  t.is(thrown[0], "boom");
});

test("an action's result that cannot be stored fails the attempt with the production SerializationError", async (t) => {
  const env = await environment(t);
  const described = (await env.run(StoresMoney, [250])) as string;
  t.regex(described, /^SerializationError: the result of action testing\.makeMoney cannot be stored: .*Money/);
});

test("a workflow that changes what its action returned changes its own copy: the recorded outcome is what the action gave", async (t) => {
  const env = await environment(t);
  t.deepEqual(await env.run(ChangesItsResult, []), [1, 2, 3, 4]);
  t.deepEqual(
    env.calls(listOf).map((c) => c.outcome),
    [{ status: "completed", value: [1, 2, 3] }],
  );
});
