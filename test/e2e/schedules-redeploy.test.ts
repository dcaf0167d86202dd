/**
 * At fire time the latest registered version of the workflow runs: a supervisor started on a
 * changed workflow module (a redeploy) registers the new body, and the next fire runs it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import test from "ava";
import pg from "pg";
import { close, deleteSchedule, listSchedules, scheduleWorkflow, WorkflowHandle } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { ROOT, supervise } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);
const ENV = { WAYMARK_WORKER_COUNT: "1", WAYMARK_EXECUTOR_SHARDS: "1", WAYMARK_SCHEDULER_POLL_INTERVAL_MS: "200" };
const tmp = mkdtempSync(path.join(os.tmpdir(), "waymark-deploy-"));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the fixture with its body's marker replaced: one deploy of the app. */
function deploy(version: string): string {
  const dir = path.join(tmp, version);
  mkdirSync(path.join(dir, "node_modules"), { recursive: true });
  // `import ... from "waymark"` resolves to this package, as in an app that depends on it.
  symlinkSync(ROOT, path.join(dir, "node_modules", "waymark"));
  const source = readFileSync(path.join(ROOT, "test/fixtures/workflows/scheduled-deploy.ts"), "utf8");
  const file = path.join(dir, "workflows.ts");
  writeFileSync(file, source.replace("`BODY ${m}`", `\`${version} \${m}\``));
  return file;
}

test("a redeploy with a changed body: the next fire runs the new version", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const v1 = deploy("v1");
  const v2 = deploy("v2");
  try {
    // The app schedules with its (v1) class: that registers v1, before any supervisor runs.
    const { DeployedWorkflow } = (await import(pathToFileURL(v1).href)) as typeof import("../fixtures/workflows/scheduled-deploy.js");
    await scheduleWorkflow(DeployedWorkflow, { scheduleName: "deploy", schedule: { everyMs: 500 }, args: [41] });
    const versions = async () =>
      (
        await db.query<{ id: number; registered_at: Date }>(
          `SELECT id::int, registered_at FROM waymark.workflow_versions WHERE workflow_name = 'DeployedWorkflow' ORDER BY registered_at`,
        )
      ).rows;
    const [first] = await versions();
    t.truthy(first, "scheduleWorkflow registered the caller's version");
    /** The fired instances that completed, with their results. */
    const results = async () =>
      Promise.all(
        (
          await db.query<{ id: string; version_id: number; created_at: Date }>(
            `SELECT id::text, version_id::int, created_at FROM waymark.instances WHERE workflow_name = 'DeployedWorkflow' AND status = 'completed' ORDER BY created_at`,
          )
        ).rows.map(async (r) => ({ ...r, result: await new WorkflowHandle<string>(r.id, "DeployedWorkflow").result() })),
      );

    const a = await supervise({ databaseUrl: url, modules: [v1], env: ENV });
    await until("two fires of v1", async () => (await results()).length >= 2, 10_000, 100);
    t.is(await a.stop(), 0);
    const before = await results();
    t.true(before.length >= 2);
    for (const r of before) t.like(r, { version_id: first!.id, result: "v1 42" });

    // Deploy v2: a new supervisor loads the changed module and registers its version.
    const b = await supervise({ databaseUrl: url, modules: [v2], env: ENV });
    try {
      // Read after the registration committed: a fire that starts later must see it.
      const { registered, seenAt } = await until(
        "the redeployed supervisor's version",
        async () => {
          const vs = await versions();
          return vs.length === 2 && { registered: vs[1]!, seenAt: new Date() };
        },
        10_000,
        50,
      );
      t.not(registered.id, first!.id);
      const after = await until(
        "two fires after the redeploy",
        async () => {
          const fired = (await results()).filter((r) => r.created_at > seenAt);
          return fired.length >= 2 && fired;
        },
        10_000,
        100,
      );
      const firstAfterStart = (await results()).find((r) => r.created_at > before.at(-1)!.created_at);
      t.log(
        `first fire after the redeploy: ${firstAfterStart?.result} at ${firstAfterStart?.created_at.toISOString()}; v2 registered at ${registered.registered_at.toISOString()}`,
      );
      // Every fire after the new version was registered ran the new body.
      for (const r of after) t.like(r, { version_id: registered.id, result: "v2 42" });
      await deleteSchedule("DeployedWorkflow", { scheduleName: "deploy" });
      t.deepEqual(await listSchedules(), []);
    } finally {
      t.is(await b.stop(), 0);
    }
  } finally {
    await close();
    await db.end();
  }
});
