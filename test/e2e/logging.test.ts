import test from "ava";
import { execa } from "execa";
import { readFileSync } from "node:fs";
import pg from "pg";
import { close, sendEvent } from "waymark";
import { silentLogger } from "../../log/logger.js";
import { instanceView, webData } from "../../web/data.js";
import { instancePage } from "../../web/pages/instance.js";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT, supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

/**
 * `console.log` in `run()` on real parts: each record reaches the supervisor's JSON log once, as
 * its step runs, with the workflow, the instance, the step and the line; an instance that leaves
 * memory for a sleep, and one whose supervisor is killed after its records were written, resume
 * from their snapshots and log nothing again; the instance page and `waymark instances show`
 * list the records.
 */
const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/logging.ts";
const ENV = {
  WAYMARK_LOG_FORMAT: "json",
  WAYMARK_LOG_LEVEL: "debug",
  // The 1 s sleep takes the instance out of memory (it is claimed again when it wakes).
  WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "300",
  WAYMARK_LOCK_TTL_MS: "1500",
  WAYMARK_LOCK_HEARTBEAT_MS: "300",
  WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "200",
};
const running: SupervisorProcess[] = [];
let L: typeof import("../fixtures/workflows/logging.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  L = await import("../fixtures/workflows/logging.js");
});

test.after.always(async () => {
  await close();
  for (const s of running) await s.stop().catch(() => undefined);
});

async function start(): Promise<SupervisorProcess> {
  const s = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: ENV });
  running.push(s);
  return s;
}

interface JsonLine {
  level: string;
  component: string;
  message: string;
  workflow?: string;
  instanceId?: string;
  step?: string;
  line?: number;
}

/** The workflow records of one instance in a supervisor's output. */
function records(s: SupervisorProcess, id: string): JsonLine[] {
  return s
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as JsonLine)
    .filter((r) => r.component.endsWith(".workflow") && r.instanceId === id);
}

const SOURCE = readFileSync(new URL("../fixtures/workflows/logging.ts", import.meta.url), "utf8").split("\n");
const lineOf = (text: string) => SOURCE.findIndex((l) => l.includes(text)) + 1;

test.serial("each record reaches the supervisor's log once, across an eviction and a killed supervisor, and the page and the CLI list them", async (t) => {
  const pool = new pg.Pool({ connectionString: await dbUrl(), max: 2 });
  t.teardown(() => pool.end());
  const first = await start();
  const handle = await new L.Narrated().start(["<b>ada</b>"]);
  const id = handle.instanceId;
  // The third record is on file with the state that made it: the supervisor may die now.
  await first.alive(
    until("three records on file", async () => {
      const { rows } = await pool.query("SELECT count(*)::int AS n FROM waymark.workflow_logs WHERE instance_id = $1", [id]);
      return rows[0].n >= 3 || undefined;
    }),
  );
  await first.kill();
  const second = await start();
  await sendEvent(id, "go", { n: 1 });
  t.is(await handle.result(), "<B>ADA</B>");
  // Claimed three times: at the start, when its sleep ended, and by the second supervisor.
  const { rows: claims } = await pool.query("SELECT lease_epoch FROM waymark.instances WHERE id = $1", [id]);
  t.true(claims[0].lease_epoch >= 3, `claimed ${claims[0].lease_epoch} times`);

  const before = records(first, id);
  const after = records(second, id);
  t.deepEqual(
    before.map((r) => [r.level, r.message]),
    [
      ["info", "hello <b>ada</b>"],
      ["warn", "shouted { loud: '<B>ADA</B>' }"],
      ["error", "awake after 1000 ms"],
    ],
    "the first supervisor logged each record once, the eviction for the sleep repeated none",
  );
  t.deepEqual(
    after.map((r) => [r.level, r.message]),
    [["debug", "got { n: 1 }"]],
    "resumed from its snapshot, the instance logged only what came after",
  );
  for (const r of [...before, ...after]) {
    t.is(r.workflow, "Narrated");
    t.regex(r.step!, /^log@\d+:\d+$/);
  }
  t.deepEqual(
    [...before, ...after].map((r) => r.line),
    [lineOf('console.log("hello'), lineOf('log.warn("shouted"'), lineOf('console.error("awake'), lineOf('console.debug("got"')],
  );

  // The instance page: the records as a timeline, escaped.
  const view = await instanceView(webData({ db: pool, log: silentLogger }), id);
  t.deepEqual(
    view!.logs.map((r) => [r.seq, r.level, r.message]),
    [
      [1, "info", "hello <b>ada</b>"],
      [2, "warn", "shouted { loud: '<B>ADA</B>' }"],
      [3, "error", "awake after 1000 ms"],
      [4, "debug", "got { n: 1 }"],
    ],
  );
  const page = instancePage(view!);
  t.true(page.includes("hello &lt;b&gt;ada&lt;/b&gt;"), "messages are escaped");
  t.false(page.includes("<b>ada</b>"));
  t.is(page.match(/<tr data-log="\d+"/g)?.length, 4);
  t.regex(page, /<tr data-log="3" data-level="error"/);

  // `waymark instances show`.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const shown = await execa(process.execPath, [CLI, "instances", "show", id], {
    cwd: ROOT,
    env: { ...inherited, WAYMARK_DATABASE_URL: await dbUrl() },
    extendEnv: false,
  });
  t.regex(shown.stdout, /\nlogs \(4\):\n/);
  t.regex(shown.stdout, new RegExp(`ERROR line ${lineOf('console.error("awake')}  awake after 1000 ms`));
  t.regex(shown.stdout, /DEBUG line \d+ {2}got \{ n: 1 \}/);
});
