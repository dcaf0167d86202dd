import test from "ava";
import { execa } from "execa";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT, supervise } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);
const HANGS = "test/fixtures/workflows/hangs.ts";

test("a user module whose loading never settles fails supervise's start after WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS, naming the module and the limit", async (t) => {
  const started = Date.now();
  const s = await supervise({ databaseUrl: await dbUrl(), modules: [HANGS], env: { WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: "400" }, ready: false });
  const { exitCode } = await s.exited;
  t.is(exitCode, 1, s.output());
  t.regex(
    s.output(),
    /user module test\/fixtures\/workflows\/hangs\.ts failed to load in the worker: WaymarkError: test\/fixtures\/workflows\/hangs\.ts did not finish loading within 400 ms \(WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS\)/,
  );
  t.notRegex(s.output(), /waymark supervise is running/);
  t.true(Date.now() - started < 20_000, "it did not wait for the 30 s default");
});

test("a user module whose top-level code never returns: the supervisor kills its child a few seconds past the limit and the start fails, saying so", async (t) => {
  const s = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/spins-at-load.ts"],
    // Long enough for the module to be transpiled and start spinning on a busy machine: with a
    // shorter limit the child's own timer could fire first, while the loader still worked.
    env: { WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: "1500", WAYMARK_WORKER_COUNT: "1" },
    ready: false,
  });
  const { exitCode } = await s.exited;
  t.is(exitCode, 1, s.output());
  t.regex(
    s.output(),
    /a worker did not finish loading the user modules \(test\/fixtures\/workflows\/spins-at-load\.ts\) within 1500 ms \(WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS\) and was killed/,
  );
  t.notRegex(s.output(), /waymark supervise is running/);
});

test("waymark run and visualize load their module within the same limit", async (t) => {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  for (const command of ["run", "visualize"]) {
    const r = await execa(process.execPath, [CLI, command, HANGS, "Anything"], {
      cwd: ROOT,
      env: { ...inherited, WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: "300" },
      extendEnv: false,
      reject: false,
    });
    t.is(r.exitCode, 1, command);
    t.is(
      r.stderr.trim(),
      `waymark: ${HANGS} did not finish loading within 300 ms (WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS): a top-level await that never settles, or a connection opened at import that never answers?`,
    );
  }
});
