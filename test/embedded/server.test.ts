import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import pg from "pg";
import { embeddedCrash, embeddedDiscover, embeddedStart, type EmbeddedServer } from "../../embedded/server.js";

// Each test initialises its own cluster (about a second); serial keeps the machine calm.

async function tempDir(t: ExecutionContext, servers: EmbeddedServer[]): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "waymark-embedded-test-"));
  await fs.chmod(dir, 0o755); // as root, the postgres user must be able to enter it
  t.teardown(async () => {
    for (const s of servers) await s.stop(); // a failed assertion must not leave a server behind
    await fs.rm(dir, { recursive: true, force: true });
  });
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const serverFile = async (dir: string) =>
  JSON.parse(await fs.readFile(path.join(dir, "postgres.json"), "utf8")) as { url: string; pid: number; dataDir: string };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` is gone within a few seconds (a postmaster we spawned is reaped a moment after it exits). */
async function gone(pid: number): Promise<boolean> {
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  return child.pid!;
}

test.serial("a second start joins the running server, and the last one out stops it", async (t) => {
  const servers: EmbeddedServer[] = [];
  const dir = await tempDir(t, servers);

  const first = await embeddedStart({ dir });
  servers.push(first);
  t.true(first.owned);
  t.deepEqual(await query(first.url, "SELECT 1 AS one"), [{ one: 1 }]);
  t.deepEqual(await query(first.url, "SELECT current_database() AS db"), [{ db: "waymark" }]);
  t.is(await embeddedDiscover(dir), first.url);
  const { pid } = await serverFile(dir);
  t.is((await fs.stat(path.join(dir, "postgres.json"))).mode & 0o777, 0o600);

  const second = await embeddedStart({ dir });
  servers.push(second);
  t.false(second.owned);
  t.is(second.url, first.url);

  await first.stop();
  await first.stop();
  t.deepEqual(await query(second.url, "SELECT 1 AS one"), [{ one: 1 }], "still up while the second is registered");

  await second.stop();
  t.true(await gone(pid));
  t.is(await embeddedDiscover(dir), undefined);
  await t.throwsAsync(query(second.url, "SELECT 1"));
  await second.stop();
});

test.serial("another live process's registration keeps the server up; a dead one does not", async (t) => {
  const servers: EmbeddedServer[] = [];
  const dir = await tempDir(t, servers);

  // Two starts at once: the lock lets exactly one of them start the server.
  const pair = await Promise.all([embeddedStart({ dir }), embeddedStart({ dir })]);
  servers.push(...pair);
  t.deepEqual(pair.map((s) => s.owned).sort(), [false, true]);
  t.is(pair[0].url, pair[1].url);
  const { pid } = await serverFile(dir);

  const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)"], { stdio: "ignore" });
  t.teardown(() => other.kill());
  await fs.writeFile(path.join(dir, "users", String(other.pid)), "");
  await Promise.all(pair.map((s) => s.stop()));
  t.true(alive(pid), "the other process is still registered");
  t.truthy(await embeddedDiscover(dir));

  other.kill();
  await once(other, "exit");
  const last = await embeddedStart({ dir });
  servers.push(last);
  t.false(last.owned);
  await last.stop();
  t.true(await gone(pid));
  t.deepEqual(await fs.readdir(path.join(dir, "users")), [], "dead registrations are pruned");
});

test.serial("a stale postgres.json and a stale lock lead to a fresh start on the same data", async (t) => {
  const servers: EmbeddedServer[] = [];
  const dir = await tempDir(t, servers);

  const first = await embeddedStart({ dir });
  servers.push(first);
  await query(first.url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)");
  const stale = await fs.readFile(path.join(dir, "postgres.json"), "utf8");
  await first.stop();

  // What a crashed supervisor leaves: the server file of a dead server and its start lock.
  await fs.writeFile(path.join(dir, "postgres.json"), stale, { mode: 0o600 });
  await fs.writeFile(path.join(dir, "start.lock"), String(await deadPid()));
  t.is(await embeddedDiscover(dir), first.url, "discover only reads the file");

  const second = await embeddedStart({ dir });
  servers.push(second);
  t.true(second.owned);
  t.is(second.dataDir, first.dataDir);
  t.not((await serverFile(dir)).pid, JSON.parse(stale).pid);
  t.deepEqual(await query(second.url, "SELECT x FROM kept"), [{ x: 42 }]);
  await second.stop();
  t.is(await embeddedDiscover(dir), undefined);
});

test.serial("a crash (immediate mode) stops the server without a checkpoint; the next start recovers the same data on the same port", async (t) => {
  const servers: EmbeddedServer[] = [];
  const dir = await tempDir(t, servers);

  const first = await embeddedStart({ dir });
  servers.push(first);
  await query(first.url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)");
  const { pid, dataDir } = await serverFile(dir);
  const held = new pg.Client({ connectionString: first.url });
  held.on("error", () => undefined);
  await held.connect();
  t.teardown(() => held.end().catch(() => undefined));

  await embeddedCrash(dir);
  t.true(await gone(pid));
  await t.throwsAsync(held.query("SELECT 1"), undefined, "a connection open at the crash is cut");
  await first.stop(); // clears our registration; there is no server left to stop

  const second = await embeddedStart({ dir });
  servers.push(second);
  t.true(second.owned);
  t.is(second.url, first.url, "same port: URLs given out before the crash still work");
  t.deepEqual(await query(second.url, "SELECT x FROM kept"), [{ x: 7 }]);
  const log = await fs.readFile(path.join(dir, "postgres.log"), "utf8");
  t.regex(log, /database system was interrupted|not properly shut down/, "the start ran crash recovery");
  t.is((await serverFile(dir)).dataDir, dataDir);
  await second.stop();
});
