import test from "ava";
import type { Workflow } from "waymark";
import { TestEnvironment } from "waymark/testing";
import { corpusCases, instanceOutcome, mask, nativeOutcome, show } from "../helpers/corpus.js";

/**
 * The proof of sameness: every case of the language corpus (the one test/compiler/corpus.test.ts
 * runs natively and through the interpreter, and test/e2e/corpus.test.ts on a real supervisor)
 * runs through waymark/testing's environment too, and must give what the native run gives: the
 * result as stored, or the workflow's error's name and message. A divergence is a bug in one of them.
 */
const all = await corpusCases();

test("the corpus has cases from every module", (t) => {
  t.true(all.length >= 60, `only ${all.length} cases`);
});

for (const { c, title } of all) {
  test(title, async (t) => {
    const env = await TestEnvironment.create();
    t.teardown(() => env.close());
    const W = c.workflow as unknown as abstract new () => Workflow;
    const [expected, actual] = await Promise.all([nativeOutcome(c), instanceOutcome(() => env.run(W, c.args as never))]);
    t.deepEqual(mask(c, actual), mask(c, expected), `\nnative:      ${show(expected)}\nenvironment: ${show(actual)}`);
  });
}
