import test from "ava";
import { runMachine } from "../helpers/machine.js";
import { Allocates, Counts, Spins, Stacks } from "./fixtures/limits.js";

/**
 * What one workflow may ask of the supervisor: steps without waiting (an endless loop fails its
 * instance, wherever it spins, and cannot be caught), slices that hand the event loop back, and
 * allocations capped line by line.
 */

const fixture = new URL("./fixtures/limits.ts", import.meta.url).pathname;

for (const where of ["body", "try", "callback"]) {
  test(`an endless loop (${where}) fails its instance with the workflow, the location and the limit; the workflow cannot catch it`, async (t) => {
    const error = await t.throwsAsync(runMachine(Spins, [where], { machine: { stepLimit: 200_000 } }));
    t.is(error.name, "WorkflowLimitError");
    t.regex(error.message, /^workflow Spins ran 200000 steps without waiting \(the limit, WAYMARK_WORKFLOW_STEP_LIMIT\) at /);
    t.true(error.message.includes(`${fixture}:`), error.message);
    const line = Number(/limits\.ts:(\d+):/.exec(error.message)![1]);
    t.true(line >= 13 && line <= 25, `points into the loop: line ${line}`);
  });
}

test("a long run hands the event loop back in slices and goes on where it stopped, also restored elsewhere", async (t) => {
  let yields = 0;
  t.is(await runMachine(Counts, [300_000], { onYield: () => yields++ }), sum(300_000) + 1);
  t.true(yields >= 10, `yielded ${yields} times`);
  // The step count starts again after every wait: the same run under a limit just above one activation passes.
  t.is(await runMachine(Counts, [300_000], { machine: { stepLimit: 1_300_000 } }), sum(300_000) + 1);
});

function sum(n: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += i % 3;
  return total;
}

test("one-line allocations that would take gigabytes are refused with a RangeError the workflow can catch", async (t) => {
  const out = (await runMachine(Allocates, [1e9])) as string[];
  t.deepEqual(out, [
    "RangeError: Invalid array length",
    "RangeError: Invalid string length",
    "RangeError: Invalid string length",
    "RangeError: Invalid array length",
    "RangeError: Invalid array length",
    "RangeError: Invalid array length",
    "RangeError: Invalid string length",
    "RangeError: Invalid string length",
    "RangeError: Invalid string length",
    "RangeError: Invalid array length",
    "RangeError: Invalid array length",
    "RangeError: Invalid array length",
    "RangeError: Maximum BigInt size exceeded",
    "RangeError: Maximum BigInt size exceeded",
    "allowed",
  ]);
});

test("errors the workflow makes, and the host's errors while it runs, have the workflow's stack, not the supervisor's", async (t) => {
  const [made, hostMade, inArrow] = (await runMachine(Stacks, [])) as string[];
  t.regex(made!, new RegExp(`^Error: made\\n    at Stacks\\.run \\(${fixture}:\\d+:\\d+\\)$`));
  t.regex(hostMade!, new RegExp(`^TypeError: Cannot set properties of null \\(setting 'x'\\)\\n    at Stacks\\.run \\(${fixture}:\\d+:\\d+\\)$`));
  t.regex(inArrow!, new RegExp(`^TypeError: arrow\\n    at <anonymous> \\(${fixture}:\\d+:\\d+\\)$`));
  t.false(/dist\/interpreter|evaluate\.|node_modules|node:/.test(made! + hostMade! + inArrow!));
});
