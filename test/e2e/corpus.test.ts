import test from "ava";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { close, runInline, WorkflowFailedError, type Workflow } from "waymark";
import { roundTrip } from "../../core/codec.js";
import type { CorpusCase } from "../corpus/case.js";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

/**
 * The differential corpus end to end: every case runs natively (`runInline`, actions called
 * in-process) and as a real instance on a real `waymark supervise` (queued in Postgres, actions
 * in forked children, state written between steps). The result, or the error's name and
 * message, must be the same.
 */
const corpusDir = fileURLToPath(new URL("../corpus/", import.meta.url));
const files = readdirSync(corpusDir)
  .filter((f) => f.endsWith(".ts") && f !== "case.ts")
  .sort();
const modules = files.filter((f) => f !== "actions.ts").map((f) => f.slice(0, -3));

const loaded = await Promise.all(modules.map(async (name) => ({ name, cases: ((await import(`../corpus/${name}.js`)) as { cases: CorpusCase[] }).cases })));
const all = loaded.flatMap((m) => m.cases.map((c, i) => ({ module: m.name, index: i, c })));

// Declared after the imports: ava wants every test and hook declared in one synchronous go.
const dbUrl = useTestDatabase(test);

let sup: SupervisorProcess;

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: files.map((f) => `test/corpus/${f}`),
    env: { WAYMARK_WORKER_COUNT: "2", WAYMARK_CONCURRENT_PER_WORKER: "32", WAYMARK_PERSIST_INTERVAL_MS: "20", WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "60000" },
  });
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

type Outcome = { ok: true; value: unknown } | { ok: false; name: string; message: string };

function show(o: Outcome): string {
  return o.ok ? inspect(o.value, { depth: 8, breakLength: 120 }) : `throws ${o.name}: ${o.message}`;
}

async function native(c: CorpusCase): Promise<Outcome> {
  try {
    return { ok: true, value: roundTrip(await (runInline as (w: unknown, ...a: unknown[]) => Promise<unknown>)(c.workflow, ...roundTrip(c.args))) };
  } catch (e) {
    const err = e as { name?: unknown; message?: unknown };
    return { ok: false, name: String(err?.name), message: String(err?.message) };
  }
}

async function supervised(c: CorpusCase): Promise<Outcome> {
  const W = c.workflow as unknown as new () => Workflow;
  try {
    return { ok: true, value: await (new W().run as (...a: unknown[]) => Promise<unknown>)(...c.args) };
  } catch (e) {
    if (!(e instanceof WorkflowFailedError)) throw e;
    // The workflow's own error, as the caller sees it: the cause keeps name and message.
    const cause = e.cause as { name?: unknown; message?: unknown } | undefined;
    return { ok: false, name: String(cause?.name ?? e.errorName), message: String(cause?.message ?? e.errorMessage) };
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

function mask(c: CorpusCase, o: Outcome): Outcome {
  const normalize = ORDER_DEPENDENT[c.workflow.name];
  return o.ok && normalize ? { ok: true, value: normalize(o.value, c.args) } : o;
}

/** Runs the supervised side in batches: `BATCH` instances in flight at a time. */
const BATCH = 24;
let active = 0;
const waiting: Array<() => void> = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (active < BATCH) active++;
  else await new Promise<void>((resolve) => waiting.push(resolve)); // the slot is handed over
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else active--;
  }
}

test("the corpus has cases from every module", (t) => {
  t.true(all.length >= 60, `only ${all.length} cases`);
  t.deepEqual(new Set(all.map((a) => a.module)).size, modules.length);
});

for (const { module, index, c } of all) {
  const title = `${module}: ${c.name ?? c.workflow.name} #${index} ${inspect(c.args, { depth: 3, breakLength: Infinity }).slice(0, 80)}`;
  test(title, async (t) => {
    const [expected, actual] = await Promise.all([native(c), slot(() => supervised(c))]);
    t.deepEqual(mask(c, actual), mask(c, expected), `\nnative:     ${show(expected)}\nsupervised: ${show(actual)}`);
  });
}
