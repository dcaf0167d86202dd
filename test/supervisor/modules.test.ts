import test from "ava";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { close, WorkflowHandle } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { query } from "../helpers/status.js";
import { ROOT, supervise } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);

test.serial("WAYMARK_USER_MODULE takes a package name, resolved from the working directory's node_modules", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-app-"));
  const pkg = path.join(dir, "node_modules", "acme-actions");
  mkdirSync(pkg, { recursive: true });
  symlinkSync(ROOT, path.join(dir, "node_modules", "waymark"));
  writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "acme-actions", type: "module", exports: "./index.js" }));
  writeFileSync(
    path.join(pkg, "index.js"),
    `import { action, workflow, Workflow } from "waymark";
export const shout = action(async function shout(s) { return s.toUpperCase() + "!"; });
export const Shout = workflow(class Shout extends Workflow { async run(s) { return await shout(s); } });
`,
  );
  const sup = await supervise({ databaseUrl: url, modules: ["acme-actions"], cwd: dir });
  try {
    const { Shout } = (await import(pathToFileURL(path.join(pkg, "index.js")).href)) as { Shout: new () => { run(s: string): Promise<string> } };
    t.is(await sup.alive(new Shout().run("hello")), "HELLO!");
  } finally {
    await close();
    t.is(await sup.stop(), 0);
  }
});

test.serial("without any NOTIFY, the WAYMARK_POLL_INTERVAL_MS poll finds a queued instance", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const sup = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env: { WAYMARK_POLL_INTERVAL_MS: "200" } });
  try {
    const { FiveSteps } = await import("../fixtures/workflows/pool.js");
    const first = await new FiveSteps().start([0, 0]);
    t.is(await first.result(), 5);
    // A row queued by plain SQL, as a migration or a hand-written INSERT might: no NOTIFY.
    const [row] = await query(
      url,
      `INSERT INTO waymark.instances (id, workflow_name, version_id, status, args) SELECT gen_random_uuid(), workflow_name, version_id, 'queued', '[10, 0]' FROM waymark.instances WHERE id = $1 RETURNING id::text`,
      [first.instanceId],
    );
    t.is(await sup.alive(new WorkflowHandle<number>(row.id, "FiveSteps").result()), 15);
  } finally {
    await close();
    t.is(await sup.stop(), 0);
  }
});
