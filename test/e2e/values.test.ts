import test from "ava";
import { close, WorkflowFailedError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { query } from "../helpers/status.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

/**
 * Values and errors at the edges, end to end through Postgres and a child: strings Postgres's
 * json refuses round-trip unchanged, and an action's error made to break its reader is a failed
 * attempt like any other (its child lives on, its neighbours are untouched).
 */
const dbUrl = useTestDatabase(test);
let sup: SupervisorProcess;
let S: typeof import("../fixtures/workflows/strange.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  // One child: a crash would hit every action.
  sup = await supervise({ databaseUrl: await dbUrl(), modules: ["test/fixtures/workflows/strange.ts"], env: { WAYMARK_WORKER_COUNT: "1" } });
  S = await import("../fixtures/workflows/strange.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

test("NUL characters and unpaired surrogates round-trip unchanged through arguments, results, attempts and state", async (t) => {
  const values = ["a\u0000b", "ab😀".slice(0, 3), "\uDE00 low first", { "key\u0000": ["\uD800", "ok 😀"] }, new Map([["\u0000", "\uDFFF"]])];
  const handle = await new S.OddStrings().start([values]);
  t.deepEqual(await handle.result(), [...values, "held \u0000 across awaits"]);
  const rows = await query(await dbUrl(), "SELECT count(*)::int AS n FROM waymark.action_attempts WHERE status = 'completed' AND instance_id = $1", [
    handle.instanceId,
  ]);
  t.deepEqual(rows, [{ n: 6 }]);
});

test("errors made to break their reader are failed attempts (not retried, not timeouts); thrown non-errors come back as themselves; the child lives on", async (t) => {
  const kinds = ["getters", "loop", "toJSON", "proxy", "undefined", "null", "string", "object", "named"];
  const handle = await new S.CatchesStrange().start([kinds]);
  const out = (await handle.result()) as unknown[];
  const caught = out.filter((_, i) => i % 2 === 0);
  t.deepEqual(
    out.filter((_, i) => i % 2 === 1),
    kinds,
    "the innocent action between each ran",
  );
  t.like(caught[0], { error: "Error" });
  t.regex((caught[0] as { message: string }).message, /its message could not be read/);
  t.like(caught[1], { error: "Error", message: "looping cause" });
  t.like(caught[2], { error: "Error", message: "json" });
  t.is(typeof (caught[3] as { message?: unknown }).message, "string");
  t.deepEqual(caught.slice(4, 8), [{ thrown: "undefined" }, { thrown: null }, { thrown: "boom" }, { thrown: { code: 42, why: "quota" } }]);
  t.deepEqual(caught[8], { error: "QuotaError", message: "m", keys: ["name", "limit"] });
  const attempts = await query(
    await dbUrl(),
    "SELECT status, attempt, error->>'name' AS name FROM waymark.action_attempts WHERE action_name = 'strangeThrow' AND instance_id = $1 ORDER BY action_seq",
    [handle.instanceId],
  );
  t.is(attempts.length, kinds.length, "each failed once: not retried");
  t.true(
    attempts.every((a) => a.status === "failed" && a.attempt === 1),
    JSON.stringify(attempts),
  );
  t.deepEqual(
    attempts.slice(4, 8).map((a) => a.name),
    ["NonError", "NonError", "NonError", "NonError"],
  );
  t.notRegex(sup.output(), /worker process died|died/);
});

test("a thrown string the workflow lets through fails the instance and reads naturally", async (t) => {
  const e = await t.throwsAsync(new S.ThrowsString().run(), { instanceOf: WorkflowFailedError });
  t.is(e!.errorName, "NonError");
  t.is(e!.errorMessage, "boom");
});

test("a workflow that changes an action's result or its own arguments changes its copy: the attempt rows and the instance's arguments keep what was given", async (t) => {
  const handle = await new S.MutatesValues().start([[7]]);
  t.deepEqual(await handle.result(), [[1, 2, 3, 4], { a: [1, 2], b: "x", c: "added" }, [7, 9]]);
  const rows = await query(await dbUrl(), "SELECT result, error->'value' AS thrown FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY action_seq", [
    handle.instanceId,
  ]);
  t.deepEqual(
    rows.map((r) => r.result ?? r.thrown),
    [[1, 2, 3], { a: [1], b: "x" }, { code: 42, why: "quota" }],
  );
  const [row] = await query(await dbUrl(), "SELECT args FROM waymark.instances WHERE id = $1", [handle.instanceId]);
  t.deepEqual(row!.args, [[7]]);
});

test("an action's arguments are taken at the call: a list the workflow changes before awaiting reaches the action, and its attempt row, as it was passed", async (t) => {
  const handle = await new S.ChangesWhatItPassed().start([]);
  t.deepEqual(await handle.result(), [
    [1, 2],
    [1, 2, 3],
  ]);
  const rows = await query(await dbUrl(), "SELECT args FROM waymark.action_attempts WHERE instance_id = $1", [handle.instanceId]);
  t.deepEqual(rows, [{ args: [[1, 2]] }]);
});
