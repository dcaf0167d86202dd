import test from "ava";
import pg from "pg";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

/**
 * Instances are claimed when they fall due, not at the next poll: a supervisor whose fallback
 * poll is ten minutes away still starts a delayed start, and wakes an instance it put to sleep
 * (out of memory), on time.
 */
const dbUrl = useTestDatabase(test);
const notes = notesDir();
let sup: SupervisorProcess;
let C: typeof import("../fixtures/workflows/control.js");
let D: typeof import("../fixtures/workflows/durable.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/control.ts", "test/fixtures/workflows/durable.ts"],
    env: { TEST_DIR: notes.dir, WAYMARK_POLL_INTERVAL_MS: "600000", WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "100" },
  });
  C = await import("../fixtures/workflows/control.js");
  D = await import("../fixtures/workflows/durable.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

/** The outcome, or an error saying the instance waited for the poll (ten minutes) instead. */
function withinSeconds<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} was not done after 30 s: it waited for the poll`)), 30_000);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function epochOf(id: string): Promise<number> {
  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  try {
    return (await c.query("SELECT lease_epoch FROM waymark.instances WHERE id = $1", [id])).rows[0].lease_epoch;
  } finally {
    await c.end();
  }
}

test("a start delayed by delayMs is claimed when it is due", async (t) => {
  const handle = await new C.MarkWorkflow().start(["due", "later"], { delayMs: 400 });
  t.is(await withinSeconds(handle.result(), "a start delayed by 400 ms"), "later");
});

test("startMany with a delay: every instance is claimed when due", async (t) => {
  const ids = await C.MarkWorkflow.startMany(
    Array.from({ length: 5 }, (_, i) => [`many-${i}`, `v${i}`]),
    { delayMs: 300 },
  );
  const { WorkflowHandle } = await import("waymark");
  const values = await withinSeconds(Promise.all(ids.map((id) => new WorkflowHandle<string>(id, "MarkWorkflow").result())), "five delayed starts");
  t.deepEqual(values, ["v0", "v1", "v2", "v3", "v4"]);
});

test("an instance put to sleep out of memory is claimed again when its sleep ends", async (t) => {
  const handle = await new D.SleepWorkflow().start([500]);
  t.regex(await withinSeconds(handle.result(), "a 500 ms sleep out of memory"), /then slept 500$/);
  // It left memory and was claimed again, not kept on a timer.
  t.true((await epochOf(handle.instanceId)) >= 2);
});
