/**
 * `waymark schedules list|pause|resume|delete` against a real supervisor.
 */
import test from "ava";
import { execa } from "execa";
import pg from "pg";
import { close, scheduleWorkflow } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT, supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/scheduled.ts";
let sup: SupervisorProcess;
let db: pg.Pool;

async function waymark(args: string[]) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  return execa(process.execPath, [CLI, "schedules", ...args], {
    cwd: ROOT,
    env: { ...inherited, WAYMARK_DATABASE_URL: await dbUrl() },
    extendEnv: false,
    reject: false,
  });
}

async function fireCount(): Promise<number> {
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM waymark.instances WHERE schedule_id IS NOT NULL`);
  return rows[0].n;
}

function waitForMoreFires(than: number, timeoutMs = 5000): Promise<number> {
  return until(
    `a fire after the first ${than}`,
    async () => {
      const n = await fireCount();
      return n > than && n;
    },
    timeoutMs,
    50,
  );
}

test.before(async () => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  db = new pg.Pool({ connectionString: url, max: 2 });
  sup = await supervise({ databaseUrl: url, modules: [FIXTURE], env: { WAYMARK_WORKER_COUNT: "1", WAYMARK_EXECUTOR_SHARDS: "1" } });
});

test.after.always(async () => {
  await close();
  await db?.end();
  await sup?.stop();
});

test.serial("waymark schedules --help lists the four commands", async (t) => {
  const r = await execa(process.execPath, [CLI, "schedules", "--help"], { cwd: ROOT, reject: false });
  t.is(r.exitCode, 0, r.stderr);
  for (const c of ["list", "pause <workflow>", "resume <workflow>", "delete <workflow>"]) t.regex(r.stdout, new RegExp(`waymark schedules ${c}`));
});

test.serial("list, pause, resume and delete a schedule from the command line", async (t) => {
  t.is((await waymark(["list"])).stdout, "no schedules");

  const { TickWorkflow, SlowWorkflow } = await import("../fixtures/workflows/scheduled.js");
  await scheduleWorkflow(TickWorkflow, {
    scheduleName: "cli-every",
    schedule: { everyMs: 500 },
    jitterMs: 100,
    priority: 2,
    args: ["cli", new Date(Date.UTC(2030, 0, 1))],
  });
  await scheduleWorkflow(SlowWorkflow, { scheduleName: "cli-cron", schedule: "0 9 * * 1-5", timezone: "Europe/Berlin", allowDuplicate: true, args: [1] });
  await waitForMoreFires(0);

  const list = await waymark(["list"]);
  t.is(list.exitCode, 0, list.stderr);
  const [head, ...lines] = list.stdout.split("\n");
  t.regex(head!, /^WORKFLOW +SCHEDULE +CADENCE +STATUS +NEXT RUN +LAST RUN +LAST INSTANCE +OPTIONS$/);
  t.is(lines.length, 2);
  t.regex(lines[0]!, /^SlowWorkflow +cli-cron +0 0 9 \* \* 1-5 \(Europe\/Berlin\) +active +\d{4}-\d\d-\d\dT0[78]:00:00\.000Z +- +- +duplicates allowed$/);
  t.regex(lines[1]!, /^TickWorkflow +cli-every +every 500 ms \+ up to 100 ms jitter +active +\S+Z +\S+Z +[0-9a-f-]{36} +priority 2$/);

  const json = (await waymark(["list", "--json", "--workflow", "TickWorkflow"])).stdout.split("\n").map((l) => JSON.parse(l));
  t.is(json.length, 1);
  t.like(json[0], {
    workflowName: "TickWorkflow",
    scheduleName: "cli-every",
    schedule: { everyMs: 500 },
    cron: null,
    intervalMs: 500,
    jitterMs: 100,
    timezone: "UTC",
    priority: 2,
    allowDuplicate: false,
    status: "active",
  });
  t.regex(json[0].lastInstanceId, /^[0-9a-f-]{36}$/);
  t.true(Date.parse(json[0].nextRunAt) > Date.parse(json[0].lastRunAt));

  const pause = await waymark(["pause", "TickWorkflow", "cli-every"]);
  t.is(pause.exitCode, 0, pause.stderr);
  t.is(pause.stdout, "paused TickWorkflow/cli-every");
  const paused = await waymark(["list", "--status", "paused"]);
  t.regex(paused.stdout.split("\n")[1]!, /^TickWorkflow +cli-every +.* paused /);
  t.is(paused.stdout.split("\n").length, 2);
  t.regex((await waymark(["list", "--status", "active"])).stdout.split("\n")[1]!, /^SlowWorkflow +cli-cron /);
  // That a paused schedule never fires is the scheduler's own test (test/supervisor/scheduler.test.ts).
  const atPause = await fireCount();

  const resume = await waymark(["resume", "TickWorkflow", "cli-every"]);
  t.is(resume.stdout, "resumed TickWorkflow/cli-every");
  await waitForMoreFires(atPause);

  const del = await waymark(["delete", "TickWorkflow", "cli-every"]);
  t.is(del.stdout, "deleted TickWorkflow/cli-every");
  const left = (await waymark(["list", "--json"])).stdout.split("\n").map((l) => JSON.parse(l).scheduleName);
  t.deepEqual(left, ["cli-cron"]);
  await waymark(["delete", "SlowWorkflow", "cli-cron"]);
  t.is((await waymark(["list"])).stdout, "no schedules");
});

test.serial("the commands explain a missing schedule and a bad status", async (t) => {
  for (const verb of ["pause", "resume", "delete"]) {
    const r = await waymark([verb, "TickWorkflow", "nope"]);
    t.is(r.exitCode, 1);
    t.is(r.stderr.trim(), 'waymark: no schedule "nope" for workflow TickWorkflow');
  }
  const bad = await waymark(["list", "--status", "stopped"]);
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /Invalid values:\s+Argument: status, Given: "stopped", Choices: "active", "paused"/);
  const missing = await waymark(["pause", "TickWorkflow"]);
  t.is(missing.exitCode, 2);
  t.regex(missing.stderr, /Not enough non-option arguments/);
});
