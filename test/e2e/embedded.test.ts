import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { execa } from "execa";
import { CLI, ROOT, supervise } from "../helpers/supervise.js";

const FIXTURE = path.join(ROOT, "test/fixtures/workflows/basic.ts");

/** Alive and not a zombie (a stopped server whose parent exited may wait to be reaped). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true;
  }
}

test("without WAYMARK_DATABASE_URL, supervise runs an embedded PostgreSQL under .waymark/ that the SDK there finds; a second supervise joins it", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-embedded-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await supervise({ modules: [FIXTURE], cwd: dir });
  t.regex(first.output(), /started the embedded PostgreSQL/);
  const info = JSON.parse(readFileSync(path.join(dir, ".waymark", "postgres.json"), "utf8")) as { pid: number; url: string };
  t.true(alive(info.pid));

  const second = await supervise({ modules: [FIXTURE], cwd: dir });
  t.regex(second.output(), /joined the embedded PostgreSQL already running here/);

  // The SDK (here through `waymark run`) finds the server from the same directory.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const run = await execa(process.execPath, [CLI, "run", FIXTURE, "GreetWorkflow", "--args", '["embedded"]'], {
    cwd: dir,
    env: inherited,
    extendEnv: false,
    reject: false,
  });
  t.is(run.exitCode, 0, run.stderr);
  t.is(JSON.parse(run.stdout), "hello embedded");

  // The server outlives the first supervisor while the second uses it, and stops with the last.
  t.is(await first.stop(), 0);
  t.true(alive(info.pid));
  t.is(await second.stop(), 0);
  t.false(alive(info.pid));
  t.false(existsSync(path.join(dir, ".waymark", "postgres.json")));
});

test("the SDK without a database says how to get one", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-nodb-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const run = await execa(process.execPath, [CLI, "run", FIXTURE, "GreetWorkflow", "--args", '["x"]'], {
    cwd: dir,
    env: inherited,
    extendEnv: false,
    reject: false,
  });
  t.is(run.exitCode, 1);
  t.regex(run.stderr, /no database: set WAYMARK_DATABASE_URL, or start `waymark supervise` in this directory/);
});
