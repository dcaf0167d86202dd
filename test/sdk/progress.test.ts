import test from "ava";
import { action, actionContext } from "waymark";

test("actionContext().progress is checked where it is called: a bad report names what is wrong", async (t) => {
  const reports = action("progress-check", async function progressCheckAction(p: unknown) {
    actionContext().progress(p as never);
    return actionContext().lastProgress ?? "none";
  });
  // Run as a plain function: a good report is accepted (and goes nowhere); there is no earlier attempt.
  t.is(await reports({ percent: 50, message: "half", data: { n: 1 } }), "none");
  for (const [bad, what] of [
    [{ percent: 101 }, /percent must be a number from 0 to 100/],
    [{ percent: "50" }, /percent must be a number from 0 to 100/],
    [{ message: 5 }, /message must be a string/],
    [{ pct: 5 }, /unknown field "pct"/],
    [null, /expected an object/],
  ] as const) {
    await t.throwsAsync(reports(bad), { instanceOf: TypeError, message: what });
  }
});
