import test from "ava";
import { execa } from "execa";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT, supervise, type SupervisorProcess } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/basic.ts";
let sup: SupervisorProcess;

function waymark(args: string[], env: Record<string, string> = {}) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  return execa(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...inherited, ...env }, extendEnv: false, reject: false });
}

test.before(async () => {
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE] });
});

test.after.always(async () => {
  await sup?.stop();
});

test("--help lists the commands", async (t) => {
  const r = await waymark(["--help"]);
  t.is(r.exitCode, 0);
  for (const c of ["supervise", "migrate", "run", "visualize", "instances"]) t.regex(r.stdout, new RegExp(`waymark ${c}`));
});

test("waymark run queues a workflow, waits, and prints its result as JSON", async (t) => {
  const r = await waymark(["run", FIXTURE, "StringsWorkflow", "--args", '["xy"]'], { WAYMARK_DATABASE_URL: await dbUrl() });
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), { text: "xy | XY | YX | *YX*", length: 4 });
});

test("waymark run reports a failed workflow on stderr with exit code 1", async (t) => {
  const r = await waymark(["run", FIXTURE, "ChargeWorkflow", "--args", "[1000]"], { WAYMARK_DATABASE_URL: await dbUrl() });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /PaymentDeclined: card declined for 1000 cents/);
});

test("waymark run explains bad arguments and unknown workflows", async (t) => {
  const bad = await waymark(["run", FIXTURE, "GreetWorkflow", "--args", '{"a":1}'], { WAYMARK_DATABASE_URL: await dbUrl() });
  t.is(bad.exitCode, 1);
  t.regex(bad.stderr, /--args must be a JSON array/);
  const unknown = await waymark(["run", FIXTURE, "NoSuchWorkflow"], { WAYMARK_DATABASE_URL: await dbUrl() });
  t.is(unknown.exitCode, 1);
  t.regex(unknown.stderr, /has no workflow named NoSuchWorkflow \(workflows it defines: .*GreetWorkflow/);
});

test("WAYMARK_SKIP_WAIT_FOR_INSTANCE makes run() return right after queueing", async (t) => {
  const r = await waymark(["run", FIXTURE, "GreetWorkflow", "--args", '["skip"]'], {
    WAYMARK_DATABASE_URL: await dbUrl(),
    WAYMARK_SKIP_WAIT_FOR_INSTANCE: "true",
  });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout.trim(), "null");
  const list = await waymark(["instances", "list", "--workflow", "GreetWorkflow", "--json"], { WAYMARK_DATABASE_URL: await dbUrl() });
  t.true(list.stdout.split("\n").filter(Boolean).length >= 1);
});

test("waymark visualize prints Mermaid, or Graphviz with --format dot", async (t) => {
  const m = await waymark(["visualize", FIXTURE, "PipelineWorkflow"]);
  t.is(m.exitCode, 0, m.stderr);
  t.regex(m.stdout, /^flowchart TD/);
  t.regex(m.stdout, /await fetchRecord\(id\)/);
  t.regex(m.stdout, /await transform\(record\)/);
  const d = await waymark(["visualize", FIXTURE, "PipelineWorkflow", "--format", "dot"]);
  t.regex(d.stdout, /^digraph "PipelineWorkflow"/);
});

test("waymark instances list and show describe instances and their attempts", async (t) => {
  const env = { WAYMARK_DATABASE_URL: await dbUrl() };
  const run = await waymark(["run", FIXTURE, "PipelineWorkflow", "--args", "[3]"], env);
  t.is(run.exitCode, 0, run.stderr);
  const list = await waymark(["instances", "list", "--workflow", "PipelineWorkflow", "--status", "completed", "--json"], env);
  const id = JSON.parse(list.stdout.split("\n")[0]!).id as string;
  const show = await waymark(["instances", "show", id], env);
  t.is(show.exitCode, 0, show.stderr);
  t.regex(show.stdout, /status {4}completed/);
  t.regex(show.stdout, /attempts \(3\):/);
  t.regex(show.stdout, /#1 fetchRecord attempt 1 {2}completed/);
  t.regex(show.stdout, /#3 format attempt 1 {2}completed .* pid \d+/);
  const json = JSON.parse((await waymark(["instances", "show", id, "--json"], env)).stdout);
  t.is(json.result, "3:RECORD-3:a+b:2024");
  t.is(json.attempts.length, 3);
  const missing = await waymark(["instances", "show", "00000000-0000-0000-0000-000000000000"], env);
  t.is(missing.exitCode, 1);
  t.regex(missing.stderr, /no workflow instance/);
});

test("a bad environment variable stops supervise with a message naming it", async (t) => {
  const r = await waymark(["supervise"], { WAYMARK_WORKER_COUNT: "lots" });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /WAYMARK_WORKER_COUNT="lots" is not a whole number/);
  const typo = await waymark(["supervise"], { WAYMARK_WORKER_CONUT: "2" });
  t.is(typo.exitCode, 2);
  t.regex(typo.stderr, /unknown variable WAYMARK_WORKER_CONUT: did you mean WAYMARK_WORKER_COUNT\?/);
});

test("a user module that cannot load stops supervise at start-up with the module's error", async (t) => {
  const s = await supervise({ databaseUrl: await dbUrl(), modules: ["test/fixtures/workflows/broken.ts"], ready: false });
  const { exitCode } = await s.exited;
  t.is(exitCode, 1);
  t.regex(s.output(), /user module test\/fixtures\/workflows\/broken\.ts failed to load/);
  t.regex(s.output(), /the database password is not set/);
});

/** A usage error: exit 2 and one line on stderr, nothing from the database. */
function usageError(t: import("ava").ExecutionContext, r: { exitCode?: number; stderr: string; stdout: string }, message: RegExp, what: string): void {
  t.is(r.exitCode, 2, `${what}: ${r.stderr}`);
  t.is(r.stderr.trim().split("\n").length, 1, `${what}: ${r.stderr}`);
  t.regex(r.stderr, message, what);
  t.notRegex(r.stderr, /invalid input syntax|out of range|at .*\.(ts|js):\d+/, what);
  t.is(r.stdout, "", what);
}

test("instances show|cancel with a malformed id is a one-line usage error (exit 2), not a database error", async (t) => {
  const env = { WAYMARK_DATABASE_URL: await dbUrl() };
  const ids = [
    "abc",
    "1",
    "00000000-0000-0000-0000-00000000000",
    "00000000-0000-0000-0000-0000000000000",
    "0190a8e2-7c1d-7b3e-9f10-2a4b6c8d0e1fz",
    "' OR 1=1 --",
    "x".repeat(300),
    "",
  ];
  const runs = ids.flatMap((id) =>
    (["show", "cancel"] as const).map(async (cmd) => ({ what: `${cmd} ${JSON.stringify(id.slice(0, 40))}`, r: await waymark(["instances", cmd, id], env) })),
  );
  for (const { what, r } of await Promise.all(runs)) usageError(t, r, /^waymark: ".*" is not an instance id: give a UUID such as [0-9a-f-]{36}/, what);
  // A well-formed id that names nothing is still "not found" (exit 1).
  const missing = await waymark(["instances", "cancel", "00000000-0000-0000-0000-000000000000"], env);
  t.is(missing.exitCode, 1);
  t.regex(missing.stderr, /no workflow instance 00000000-0000-0000-0000-000000000000/);
});

test("instances list --limit with a bad number is a one-line usage error (exit 2)", async (t) => {
  const env = { WAYMARK_DATABASE_URL: await dbUrl() };
  const limits = ["0", "-1", "1.5", "abc", "1e3", "0x10", "100001", "99999999999999999999", ""];
  const runs = limits.map(async (n) => ({ what: `--limit ${JSON.stringify(n)}`, r: await waymark(["instances", "list", "--limit", n], env) }));
  for (const { what, r } of await Promise.all(runs)) usageError(t, r, /^waymark: --limit ".*" is not a whole number from 1 to 100000$/m, what);
  usageError(t, await waymark(["instances", "list", "--workflow", " "], env), /^waymark: --workflow is empty: give a name$/m, "--workflow blank");
  const ok = await waymark(["instances", "list", "--limit", "1", "--json"], env);
  t.is(ok.exitCode, 0, ok.stderr);
  t.true(ok.stdout.split("\n").filter(Boolean).length <= 1);
});

test("schedules with a blank workflow or schedule name is a one-line usage error (exit 2)", async (t) => {
  const env = { WAYMARK_DATABASE_URL: await dbUrl() };
  for (const verb of ["pause", "resume", "delete"]) {
    usageError(t, await waymark(["schedules", verb, "", "nightly"], env), /^waymark: the workflow name is empty: give a name$/m, `${verb} blank workflow`);
    usageError(
      t,
      await waymark(["schedules", verb, "GreetWorkflow", " "], env),
      /^waymark: the schedule name is empty: give a name$/m,
      `${verb} blank schedule`,
    );
  }
  usageError(t, await waymark(["schedules", "list", "--workflow", ""], env), /^waymark: --workflow is empty: give a name$/m, "list --workflow blank");
  // Unusual but well-formed names reach the database and are simply not found.
  const odd = await waymark(["schedules", "pause", "Greet'; DROP TABLE x; --", "n".repeat(3000)], env);
  t.is(odd.exitCode, 1, odd.stderr);
  t.regex(odd.stderr, /^waymark: no schedule "n+" for workflow Greet'; DROP TABLE x; --$/m);
});
