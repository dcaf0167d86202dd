import { fc, testProp } from "@fast-check/ava";
import { programArbitraries, programOf } from "./generate.js";
import { check, cleanUp } from "./oracle.js";

/**
 * Differential fuzzing in every run of the suite: a few hundred generated workflows, the same
 * ones every time (a fixed seed), each run natively and through the compiler and the interpreter
 * (restored from its snapshot after every step); the outcomes must agree. `npm run fuzz` runs as
 * many as asked, with any seed (test/fuzz/main.ts).
 */
testProp.after.always(() => cleanUp());

testProp(
  "generated workflows behave as the same code run natively, through every snapshot and restore",
  [...programArbitraries(fc)],
  async (t, tape, n, s, xs) => {
    await check(programOf(tape, [n, s, xs]));
    t.pass();
  },
  { seed: 20261202, numRuns: 300, endOnFailure: true, includeErrorInReport: true },
);
