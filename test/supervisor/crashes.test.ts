import test from "ava";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { query, waitForStatus } from "../helpers/status.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);
let sup: SupervisorProcess;
let P: typeof import("../fixtures/workflows/pool.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/pool.ts"],
    // A small heap makes the out-of-memory case quick (it applies to the supervisor too, which needs little).
    env: { WAYMARK_RUNNER_PROFILE_INTERVAL_MS: "100", NODE_OPTIONS: "--max-old-space-size=96" },
  });
  P = await import("../fixtures/workflows/pool.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

for (const how of ["exit", "oom"]) {
  test.serial(`a child that dies (${how}) fails its attempt at once as ActionTimeout; the retry completes and the pool stays at full strength`, async (t) => {
    const handle = await new P.CrashKinds().start([how]);
    t.regex(String(await handle.result()), new RegExp(`^${how}: recovered on attempt 2 in \\d+$`));
    const rows = await query(
      await dbUrl(),
      "SELECT attempt, status, child_pid, error->>'name' AS name, error->>'message' AS message FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY attempt",
      [handle.instanceId],
    );
    t.is(rows.length, 2);
    t.like(rows[0], { attempt: 1, status: "timed_out", name: "ActionTimeout" });
    t.regex(rows[0].message, /attempt 1 of crash \(pid \d+\) was lost: its worker process died \((signal SIG[A-Z]+|exit code \d+)\)/);
    t.like(rows[1], { attempt: 2, status: "completed" });
    await sup.waitFor(/worker process died; replacing it/);
    // A row published after the death was handled: the dead child is gone, two are ready.
    const dead = rows[0].child_pid as number;
    const stats = await waitForStatus(
      await dbUrl(),
      sup.pid,
      (s) => !s.children.some((c: { pid: number }) => c.pid === dead) && s.children.filter((c: { state: string }) => c.state === "ready").length === 2,
    );
    t.is(stats.children.length, 2);
  });
}

test.serial("waymark status prints the supervisor and its children", async (t) => {
  const { execa } = await import("execa");
  const { CLI, ROOT } = await import("../helpers/supervise.js");
  await waitForStatus(await dbUrl(), sup.pid, (s) => s.children.filter((c: { state: string }) => c.state === "ready").length === 2);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const r = await execa(process.execPath, [CLI, "status"], {
    cwd: ROOT,
    env: { ...env, WAYMARK_DATABASE_URL: await dbUrl() },
    extendEnv: false,
    reject: false,
  });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`pid ${sup.pid}`));
  t.regex(r.stdout, /child pid \d+ {2}slot 0 {2}ready/);
  t.regex(r.stdout, /child pid \d+ {2}slot 1 {2}ready/);
});
