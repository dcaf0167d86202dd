import test from "ava";
import { close, SerializationError, WorkflowFailedError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { query } from "../helpers/status.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

/**
 * One workflow's code cannot take the supervisor from the others: an endless loop hands the event
 * loop back in slices (heartbeats, results and signals go on) and fails its instance at the step
 * limit; values and states over their caps fail where they are made, before anything is written.
 */
const dbUrl = useTestDatabase(test);
const notes = notesDir();
let sup: SupervisorProcess;
let H: typeof import("../fixtures/workflows/hostile.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  process.env.WAYMARK_MAX_VALUE_BYTES = "100000";
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/hostile.ts"],
    env: {
      TEST_DIR: notes.dir,
      // A few seconds of spinning, against leases that expire in 1.5 s without a heartbeat.
      WAYMARK_WORKFLOW_STEP_LIMIT: "150000000",
      WAYMARK_LOCK_TTL_MS: "1500",
      WAYMARK_LOCK_HEARTBEAT_MS: "300",
      WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "200",
      WAYMARK_MAX_VALUE_BYTES: "100000",
      WAYMARK_MAX_STATE_BYTES: "200000",
    },
  });
  H = await import("../fixtures/workflows/hostile.js");
});

test.after.always(async () => {
  delete process.env.WAYMARK_MAX_VALUE_BYTES;
  await close();
  await sup?.stop();
});

test.serial(
  "an endless loop fails its own instance at the step limit, naming the workflow, the line and the limit, while its neighbours run and keep their leases",
  async (t) => {
    const spinner = await new H.Spinner().start(["spin.txt"]);
    await until("the spinner to start spinning", () => notes.lines("spin.txt").length > 0);
    const started = Date.now();
    // Neighbours started while it spins finish while it spins.
    const innocents = await Promise.all(Array.from({ length: 20 }, (_, i) => new H.Innocent().run(i)));
    const innocentsDone = Date.now();
    t.deepEqual(
      innocents,
      Array.from({ length: 20 }, (_, i) => 3 * i + 3),
    );
    const e = await t.throwsAsync(spinner.result(), { instanceOf: WorkflowFailedError });
    t.is(e!.errorName, "WorkflowLimitError");
    t.regex(
      e!.errorMessage,
      /^workflow Spinner ran 150000000 steps without waiting \(the limit, WAYMARK_WORKFLOW_STEP_LIMIT\) at Spinner\.run \(.*hostile\.ts:2[5-9]:\d+\)/,
    );
    const failedAt = Date.now();
    t.true(innocentsDone < failedAt, `the neighbours finished (${innocentsDone - started} ms) before the spinner failed (${failedAt - started} ms)`);
    // No lease was lost meanwhile: the heartbeat kept beating.
    t.notRegex(sup.output(), /dropping instance|lease lost|reclaimed/i);
  },
);

test.serial("SIGTERM stops a supervisor while a workflow spins: the spinner goes back to the queue mid-run", async (t) => {
  const other = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/hostile.ts"],
    env: { TEST_DIR: notes.dir, WAYMARK_WORKFLOW_STEP_LIMIT: "1000000000", WAYMARK_LOCK_TTL_MS: "1500", WAYMARK_LOCK_HEARTBEAT_MS: "300" },
  });
  // The main supervisor must not take it: stop it for this test, start it again after.
  await sup.stop();
  const spinner = await new H.Spinner().start(["sigterm.txt"]);
  await until("the spinner to spin", () => notes.lines("sigterm.txt").length > 0);
  const asked = Date.now();
  t.is(await other.stop(), 0);
  t.true(Date.now() - asked < 5_000, `stopped in ${Date.now() - asked} ms`);
  const [row] = await query(await dbUrl(), "SELECT status, state IS NOT NULL AS has_state, lease_owner FROM waymark.instances WHERE id = $1", [
    spinner.instanceId,
  ]);
  t.deepEqual(row, { status: "queued", has_state: true, lease_owner: null });
  await spinner.cancel();
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/hostile.ts"],
    env: { TEST_DIR: notes.dir, WAYMARK_WORKFLOW_STEP_LIMIT: "150000000", WAYMARK_MAX_VALUE_BYTES: "100000", WAYMARK_MAX_STATE_BYTES: "200000" },
  });
});

test.serial("values over WAYMARK_MAX_VALUE_BYTES are refused where they are made, naming what was too big", async (t) => {
  // An action's arguments: a SerializationError in the workflow, which may catch it.
  t.regex(
    (await new H.BigArgument().run(200_000)) as string,
    /^SerializationError: the arguments of action hostileEcho is too large to store: over 100000 bytes \(the limit, WAYMARK_MAX_VALUE_BYTES\)/,
  );
  t.is(await new H.BigArgument().run(1_000), "sent");
  // An action's result: its attempt fails (an explicit error: not retried).
  t.regex(
    (await new H.BigResult().run(200_000)) as string,
    /^SerializationError: the result of action hostileMakeText is too large to store: over 100000 bytes/,
  );
  // A workflow's result: the instance fails.
  const e = await t.throwsAsync(new H.BigReturn().run(200_000), { instanceOf: WorkflowFailedError });
  t.regex(e!.errorMessage, /the result of workflow BigReturn is too large to store: over 100000 bytes/);
  // A workflow's arguments: refused by start(), before anything is queued.
  const before = await query(await dbUrl(), "SELECT count(*)::int AS n FROM waymark.instances");
  await t.throwsAsync(new H.Innocent().start(["a".repeat(200_000) as never]), {
    instanceOf: SerializationError,
    message: /the arguments of workflow Innocent is too large to store/,
  });
  t.deepEqual(await query(await dbUrl(), "SELECT count(*)::int AS n FROM waymark.instances"), before);
});

test.serial("a state over WAYMARK_MAX_STATE_BYTES fails its instance instead of being written", async (t) => {
  t.is(await new H.BigState().run(50_000), 50_000);
  const e = await t.throwsAsync(new H.BigState().run(300_000), { instanceOf: WorkflowFailedError });
  t.regex(
    e!.errorMessage,
    /the workflow's state cannot be stored, so it cannot continue durably: it is \d+ bytes, over the limit of 200000 \(WAYMARK_MAX_STATE_BYTES\)/,
  );
});

test.serial("escape attempts fail inside their own instance on a real supervisor, and a later instance finds the shared prototypes clean", async (t) => {
  const code = "require('node:fs').writeFileSync('/tmp/waymark-escaped', 'x'); return 1";
  t.deepEqual(await new H.Escaper().run(code), ["TypeError", "TypeError", "TypeError", "after"]);
  t.deepEqual(await new H.Probe().run(), ["clean", "clean"]);
  t.notRegex(sup.output(), /interpreter fault/);
});
