import test from "ava";
import { action, RegistrationError } from "waymark";
import { actionOptions } from "../../core/policy.js";

/** Limits that make no sense are refused where the action is registered, naming the action and the field. */
const noop = async () => undefined;

test("action limits are checked at registration: each bad value names the action, the field and the range", (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{ concurrency: 0 }, /concurrency must be a whole number from 1 to 2147483647, got 0/],
    [{ concurrency: -2 }, /concurrency must be a whole number from 1/],
    [{ concurrency: 1.5 }, /concurrency must be a whole number/],
    [{ concurrency: "5" }, /concurrency must be a whole number .* got string/],
    [{ rateLimit: { limit: 0, periodMs: 1000 } }, /rateLimit.limit must be a whole number from 1/],
    [{ rateLimit: { limit: 10, periodMs: 0 } }, /rateLimit.periodMs must be a whole number from 1 to 2147483647, got 0/],
    [{ rateLimit: { limit: 10, periodMs: 2 ** 31 } }, /rateLimit.periodMs must be a whole number from 1 to 2147483647, got 2147483648/],
    [{ rateLimit: { limit: 10, periodMs: 0.5 } }, /rateLimit.periodMs must be a whole number/],
    [{ rateLimit: 100 }, /rateLimit must be an object such as \{ limit: 100, periodMs: 60_000 \}/],
    [{ rateLimit: { limit: 1, periodMs: 1, burst: 2 } }, /unknown rateLimit option "burst"/],
    [{ concurency: 5 }, /unknown option "concurency" \(allowed: concurrency, rateLimit\)/],
  ];
  for (const [i, [options, message]] of bad.entries()) {
    const e = t.throws(() => action(`limits.bad${i}`, noop, options as never), { instanceOf: RegistrationError });
    t.regex(e!.message, message);
    t.regex(e!.message, new RegExp(`action "limits\\.bad${i}" \\(at .*limits\\.test\\.ts:\\d+:\\d+\\)`));
  }
  t.notThrows(() => action("limits.ok", noop, { concurrency: 2 ** 31 - 1, rateLimit: { limit: 1, periodMs: 1 } }));
  t.notThrows(() => action(async function limitsPlain() {}, { concurrency: 3 }));
});

test("limitKey: a non-empty string of at most 256 characters, checked where the call is made", (t) => {
  t.is(actionOptions({ limitKey: "tenant-42" }).limitKey, "tenant-42");
  t.throws(() => actionOptions({ limitKey: "" }), { message: /limitKey must be a non-empty string of at most 256 characters, got a string of 0 characters/ });
  t.throws(() => actionOptions({ limitKey: 42 }), { message: /limitKey must be a non-empty string .* got number/ });
  t.throws(() => actionOptions({ limitKey: "x".repeat(257) }), { message: /got a string of 257 characters/ });
});
