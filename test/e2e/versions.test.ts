import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import test from "ava";
import { execa } from "execa";
import pg from "pg";
import { close, type Workflow } from "waymark";
import { compileWorkflow } from "../../compiler/workflow.js";
import { definitionOf } from "../../sdk/definition.js";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT, supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

/**
 * Workflow versions: a version is the hash of the compiled body. The same source gives the same
 * hash in every process; a changed body is a new version (a new row); an instance always
 * finishes on the version it started on, even when the module changed under it and the
 * supervisors restarted with the new code.
 */
const dbUrl = useTestDatabase(test);

/** A user project in a temp dir: its module imports "waymark" from its node_modules. */
const project = mkdtempSync(path.join(os.tmpdir(), "waymark-versions-"));
mkdirSync(path.join(project, "node_modules"));
symlinkSync(ROOT, path.join(project, "node_modules", "waymark"), "dir");
const MODULE = path.join(project, "versioned.ts");

function source(p: { label: string; sleepMs: number; extra?: boolean; above?: string }): string {
  return `import { action, sleep, workflow, Workflow } from "waymark";
${p.above ?? ""}
export const stamp = action("versioned.stamp", async function stamp(text: string) {
  return text;
});

@workflow
export class VersionedWorkflow extends Workflow {
  async run(name: string) {
    const before = await stamp(\`${p.label} before \${name}\`);
    await sleep(${p.sleepMs});
    const after = await stamp(\`${p.label} after \${name}\`);${p.extra ? `\n    return [before, after, await stamp("${p.label} extra step")].join(" / ");` : `\n    return [before, after].join(" / ");`}
  }
}
`;
}

const V1 = source({ label: "v1", sleepMs: 2500 });
const V2 = source({ label: "v2", sleepMs: 50, extra: true });

let sup: SupervisorProcess | undefined;
const ENV = { WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "300", WAYMARK_POLL_INTERVAL_MS: "50" };

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
});

test.after.always(async () => {
  await close();
  await sup?.stop();
  rmSync(project, { recursive: true, force: true });
});

async function query<R>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as R[];
  } finally {
    await c.end();
  }
}

test.serial("the same source gives the same hash; moving the class down does not change it; a changed body does", (t) => {
  writeFileSync(path.join(project, "same.ts"), V1);
  writeFileSync(path.join(project, "moved.ts"), source({ label: "v1", sleepMs: 2500, above: "\n// a comment\n\nconst unrelated = 1;\nvoid unrelated;\n" }));
  writeFileSync(path.join(project, "changed.ts"), V2);
  class VersionedWorkflow {}
  const lookup = { has: (n: string) => n === "versioned.stamp" };
  const hash = (file: string) => compileWorkflow({ cls: VersionedWorkflow, workflowName: "VersionedWorkflow", lookup, file: path.join(project, file) }).hash;
  t.is(hash("same.ts"), hash("same.ts"));
  t.is(hash("moved.ts"), hash("same.ts"));
  t.not(hash("changed.ts"), hash("same.ts"));
});

test.serial("an instance finishes on the version it started on; a new instance runs the new body", async (t) => {
  writeFileSync(MODULE, V1);
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [MODULE], env: ENV });

  // The supervisor's child compiled the module and registered its version; this process
  // compiles the same file to the same hash, so queueing adds no second row.
  const registered = await until(
    "the supervisor to register the version",
    async () => (await query<{ ir_hash: string }>("SELECT ir_hash FROM waymark.workflow_versions WHERE workflow_name = 'VersionedWorkflow'"))[0],
  );
  const { VersionedWorkflow } = (await import(pathToFileURL(MODULE).href)) as { VersionedWorkflow: new () => Workflow };
  const v1Hash = definitionOf(VersionedWorkflow).compiled.hash;
  t.is(registered.ir_hash, v1Hash);

  const old = await new VersionedWorkflow().start(["old"]);
  await until(
    "the old instance to sleep (evicted)",
    async () =>
      (await query<{ status: string }>("SELECT status FROM waymark.instances WHERE id = $1", [old.instanceId]))[0]?.status === "sleeping" || undefined,
  );
  t.deepEqual(await query("SELECT count(*)::int AS n FROM waymark.workflow_versions"), [{ n: 1 }]);

  // A deploy: the module changes on disk and the supervisors restart with the new code.
  t.is(await sup.stop(), 0);
  writeFileSync(MODULE, V2);
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [MODULE], env: ENV });

  // A new instance, queued by a process that loads the new module, runs the new body.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const cli = await execa(process.execPath, [CLI, "run", MODULE, "VersionedWorkflow", "--args", '["new"]'], {
    cwd: ROOT,
    env: { ...inherited, WAYMARK_DATABASE_URL: await dbUrl() },
    extendEnv: false,
    reject: false,
  });
  t.is(cli.exitCode, 0, cli.stderr);
  t.is(JSON.parse(cli.stdout), "v2 before new / v2 after new / v2 extra step");

  // The old instance wakes on the new supervisor and finishes with the old body.
  t.is(await old.result(), "v1 before old / v1 after old");

  const rows = await query<{ name: string; hash: string; n: number }>(
    `SELECT i.args::text AS name, v.ir_hash AS hash, (SELECT count(*)::int FROM waymark.action_attempts a WHERE a.instance_id = i.id) AS n
       FROM waymark.instances i JOIN waymark.workflow_versions v ON v.id = i.version_id ORDER BY i.created_at`,
  );
  t.is(rows.length, 2);
  t.is(rows[0]!.hash, v1Hash, "the old instance kept its version");
  t.not(rows[1]!.hash, v1Hash, "the new instance is on the new version");
  t.deepEqual(
    rows.map((r) => r.n),
    [2, 3],
  );
  const versions = await query<{ ir_hash: string }>("SELECT ir_hash FROM waymark.workflow_versions WHERE workflow_name = 'VersionedWorkflow' ORDER BY id");
  t.deepEqual(
    versions.map((v) => v.ir_hash),
    [v1Hash, rows[1]!.hash],
  );
});
