import test from "ava";
import { close, WorkflowFailedError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { query } from "../helpers/status.js";
import { execa } from "execa";
import { CLI, supervise } from "../helpers/supervise.js";

/**
 * Crash-loop quarantine, on real processes: an instance that kills its supervisor (out of memory
 * under a small heap) is failed after WAYMARK_CRASH_LOOP_LIMIT deaths in a row instead of taking
 * down one supervisor after another, while the other instances complete.
 */
const dbUrl = useTestDatabase(test);
const notes = notesDir();

test.after.always(async () => {
  await close();
});

test("an instance that kills its supervisor every time fails after 3 deaths with CrashLoopError; its neighbours complete", async (t) => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  const H = await import("../fixtures/workflows/hostile.js");
  const env = {
    TEST_DIR: notes.dir,
    NODE_OPTIONS: "--max-old-space-size=96",
    WAYMARK_WORKER_COUNT: "1",
    WAYMARK_LOCK_TTL_MS: "1000",
    WAYMARK_LOCK_HEARTBEAT_MS: "250",
    WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "200",
    WAYMARK_CRASH_LOOP_LIMIT: "3",
  };
  const hog = await new H.Hog().start(["hog.txt"]);
  const innocents = await Promise.all(Array.from({ length: 20 }, (_, i) => new H.Innocent().start([i])));
  const failed = hog.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  let deaths = 0;
  for (let life = 0; life < 6; life++) {
    const sup = await supervise({ databaseUrl: await dbUrl(), modules: ["test/fixtures/workflows/hostile.ts"], env });
    const outcome = await Promise.race([sup.exited.then(() => "died" as const), failed.then(() => "quarantined" as const)]);
    if (outcome === "died") {
      deaths++;
      t.regex(sup.output(), /heap|memory/i, "it died of the heap limit");
      continue;
    }
    // Quarantined: this supervisor lives on and finishes the others.
    t.deepEqual(
      await Promise.all(innocents.map((h) => h.result())),
      Array.from({ length: 20 }, (_, i) => 3 * i + 3),
    );
    const late = await new H.Innocent().run(100);
    t.is(late, 303);
    t.is(await sup.stop(), 0);
    break;
  }
  t.is(deaths, 3, "three supervisors died, and no more");
  const e = (await failed) as WorkflowFailedError;
  t.true(e instanceof WorkflowFailedError);
  t.is(e.errorName, "CrashLoopError");
  t.regex(e.errorMessage, /^its supervisor died 3 times in a row while running it \(the limit, WAYMARK_CRASH_LOOP_LIMIT\)/);
  t.is(notes.lines("hog.txt").length >= 3, true, "it ran (and killed) three times");
  const [row] = await query(await dbUrl(), "SELECT status, lease_losses FROM waymark.instances WHERE id = $1", [hog.instanceId]);
  t.deepEqual(row, { status: "failed", lease_losses: 3 });
  const quarantined = await query(await dbUrl(), "SELECT count(*)::int AS n FROM waymark.instances WHERE status = 'failed'");
  t.deepEqual(quarantined, [{ n: 1 }], "only the hog failed");
  // The CLI says why.
  const shown = await execa(process.execPath, [CLI, "instances", "show", hog.instanceId], {
    env: { ...cleanEnv(), WAYMARK_DATABASE_URL: await dbUrl() },
    reject: false,
  });
  t.regex(shown.stdout, /error {5}CrashLoopError: its supervisor died 3 times in a row while running it/);
  t.regex(shown.stdout, /deaths {4}its supervisor died 3 time\(s\) in a row while running it/);
});

function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith("WAYMARK_") && e[1] !== undefined));
}
