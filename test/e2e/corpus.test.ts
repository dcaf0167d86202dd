import test from "ava";
import { close, type Workflow } from "waymark";
import type { CorpusCase } from "../corpus/case.js";
import { CORPUS_FILES, corpusCases, instanceOutcome, mask, nativeOutcome, show, type Outcome } from "../helpers/corpus.js";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

/**
 * The differential corpus end to end: every case runs natively (`runInline`, actions called
 * in-process) and as a real instance on a real `waymark supervise` (queued in Postgres, actions
 * in forked children, state written between steps). The result, or the error's name and
 * message, must be the same.
 */
const all = await corpusCases();
const modules = new Set(all.map((a) => a.module));

// Declared after the imports: ava wants every test and hook declared in one synchronous go.
const dbUrl = useTestDatabase(test);

let sup: SupervisorProcess;

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: CORPUS_FILES.map((f) => `test/corpus/${f}`),
    env: { WAYMARK_WORKER_COUNT: "2", WAYMARK_CONCURRENT_PER_WORKER: "32", WAYMARK_PERSIST_INTERVAL_MS: "20", WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "60000" },
  });
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

function supervised(c: CorpusCase): Promise<Outcome> {
  const W = c.workflow as unknown as new () => Workflow;
  return instanceOutcome(() => (new W().run as (...a: unknown[]) => Promise<unknown>)(...c.args));
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
  t.deepEqual(modules.size, CORPUS_FILES.length - 1);
});

for (const { c, title } of all) {
  test(title, async (t) => {
    const [expected, actual] = await Promise.all([nativeOutcome(c), slot(() => supervised(c))]);
    t.deepEqual(mask(c, actual), mask(c, expected), `\nnative:     ${show(expected)}\nsupervised: ${show(actual)}`);
  });
}
