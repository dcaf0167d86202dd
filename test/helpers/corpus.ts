import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { runInline } from "waymark";
import { roundTrip } from "../../core/codec.js";
import type { CorpusCase } from "../corpus/case.js";

/**
 * The language corpus (test/corpus/), for the tests that run it somewhere other than natively (a
 * real supervisor, waymark/testing's environment) and compare with the native run: its files,
 * its cases, the native outcome, and the cases whose result depends on completion order.
 */
const corpusDir = fileURLToPath(new URL("../corpus/", import.meta.url));

/** The corpus's module files (the shared actions included, case.ts not). */
export const CORPUS_FILES = readdirSync(corpusDir)
  .filter((f) => f.endsWith(".ts") && f !== "case.ts")
  .sort();

/** Every case, with its module and index, for test titles. */
export async function corpusCases(): Promise<Array<{ module: string; index: number; c: CorpusCase; title: string }>> {
  const modules = CORPUS_FILES.filter((f) => f !== "actions.ts").map((f) => f.slice(0, -3));
  const loaded = await Promise.all(modules.map(async (name) => ({ name, cases: ((await import(`../corpus/${name}.js`)) as { cases: CorpusCase[] }).cases })));
  return loaded.flatMap((m) =>
    m.cases.map((c, index) => ({
      module: m.name,
      index,
      c,
      title: `${m.name}: ${c.name ?? c.workflow.name} #${index} ${inspect(c.args, { depth: 3, breakLength: Infinity }).slice(0, 80)}`,
    })),
  );
}

export type Outcome = { ok: true; value: unknown } | { ok: false; name: string; message: string };

export function show(o: Outcome): string {
  return o.ok ? inspect(o.value, { depth: 8, breakLength: 120 }) : `throws ${o.name}: ${o.message}`;
}

/** The case run natively (`runInline`, actions called in process), its result as it would be stored. */
export async function nativeOutcome(c: CorpusCase): Promise<Outcome> {
  try {
    return { ok: true, value: roundTrip(await (runInline as (w: unknown, ...a: unknown[]) => Promise<unknown>)(c.workflow, ...roundTrip(c.args))) };
  } catch (e) {
    const err = e as { name?: unknown; message?: unknown };
    return { ok: false, name: String(err?.name), message: String(err?.message) };
  }
}

/** What a caller of an instance sees, as an outcome: the result, or the workflow's own error (the WorkflowFailedError's cause). */
export async function instanceOutcome(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await run() };
  } catch (e) {
    if ((e as Error)?.name !== "WorkflowFailedError") throw e;
    const failed = e as Error & { errorName: string; errorMessage: string };
    const cause = failed.cause as { name?: unknown; message?: unknown } | undefined;
    return { ok: false, name: String(cause?.name ?? failed.errorName), message: String(cause?.message ?? failed.errorMessage) };
  }
}

/**
 * Cases whose result depends on the order in which concurrent actions complete. Natively,
 * in-process actions resolve in call order; on a supervisor the children answer in any order, as
 * real I/O would. For these, the racy fields are checked to be one of the outcomes a native run
 * could also produce, then masked before the comparison.
 */
const ORDER_DEPENDENT: Record<string, (value: unknown, args: unknown[]) => unknown> = {
  // `total += await double(n)` inside Promise.all reads `total` before the await: the last
  // action to complete decides the total (lost updates, exactly as natively).
  CompoundAssignAcrossAwaits(value, args) {
    const v = value as { total: number; counts: { a: number } };
    const items = args[0] as number[];
    const last = (x: number, options: number[]) =>
      options.includes(x) ? "the last writer's value" : `${x}, which no completion order gives (one of ${options.join(", ")})`;
    return {
      ...v,
      total: last(
        v.total,
        items.map((n) => n * 2),
      ),
      counts: { a: last(v.counts.a, items) },
    };
  },
};

export function mask(c: CorpusCase, o: Outcome): Outcome {
  const normalize = ORDER_DEPENDENT[c.workflow.name];
  return o.ok && normalize ? { ok: true, value: normalize(o.value, c.args) } : o;
}
