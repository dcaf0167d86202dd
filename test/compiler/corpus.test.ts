import test from "ava";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { runInline } from "waymark";
import { roundTrip } from "../../core/codec.js";
import { runMachine } from "../helpers/machine.js";
import type { CorpusCase } from "../corpus/case.js";

/**
 * The differential corpus: every workflow runs natively (its `run()` as plain JavaScript, with
 * actions called in-process) and through its compiled graph (the interpreter, restored from a
 * snapshot between every step). Results must be deep-equal after a trip through the codec, as
 * they would be stored; a native failure must be matched by a failure with the same name and
 * message.
 */
const corpusDir = fileURLToPath(new URL("../corpus/", import.meta.url));
const modules = readdirSync(corpusDir)
  .filter((f) => f.endsWith(".ts") && !["actions.ts", "case.ts"].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();

type Outcome = { ok: true; value: unknown } | { ok: false; name: string; message: string };

async function outcome(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: roundTrip(await fn()) };
  } catch (e) {
    const err = e as { name?: unknown; message?: unknown };
    return { ok: false, name: String(err?.name), message: String(err?.message) };
  }
}

function show(o: Outcome): string {
  return o.ok ? inspect(o.value, { depth: 8, breakLength: 120 }) : `throws ${o.name}: ${o.message}`;
}

// Import every module before declaring tests: ava wants all tests declared in one go.
const loaded = await Promise.all(
  modules.map(async (name) => {
    try {
      return { name, cases: ((await import(`../corpus/${name}.js`)) as { cases: CorpusCase[] }).cases };
    } catch (e) {
      return { name, error: e };
    }
  }),
);

for (const mod of loaded) {
  if (!mod.cases) {
    test(`${mod.name}: the corpus module compiles`, (t) => t.fail(String((mod.error as Error)?.stack ?? mod.error)));
    continue;
  }
  mod.cases.forEach((c, i) => {
    const title = `${mod.name}: ${c.name ?? c.workflow.name} #${i} ${inspect(c.args, { depth: 3, breakLength: Infinity }).slice(0, 80)}`;
    test(title, async (t) => {
      const native = await outcome(() => (runInline as (w: unknown, ...a: unknown[]) => Promise<unknown>)(c.workflow, ...roundTrip(c.args)));
      const machine = await outcome(() => runMachine(c.workflow, c.args));
      t.deepEqual(machine, native, `\nnative:  ${show(native)}\nmachine: ${show(machine)}`);
    });
  });
}
