/**
 * `npm test`: gives the tests a PostgreSQL, a migrated template database, and runs ava.
 *
 * Without WAYMARK_TEST_DATABASE_URL it starts an embedded server in a fresh temp dir and removes
 * it afterwards. With it, that URL is the admin connection (a database the runner may create
 * databases from). Either way `waymark_template` is recreated and migrated, and every test file
 * clones it (test/helpers/db.ts). Arguments pass through to ava: `npm test -- test/store`.
 *
 * The tests' temp files (TMPDIR, for them and every process they start) go in one directory of
 * the run's own, removed afterwards: a test that leaves its files behind leaves nothing in /tmp.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createLogger } from "../log/logger.js";
import { embeddedStart, type EmbeddedServer } from "../embedded/server.js";
import { migrate } from "../store/migrate.js";
import { TEST_POSTGRES_SETTINGS } from "./helpers/db.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)); // dist/test/run.js -> package root
const AVA = path.join(ROOT, "node_modules", "ava", "entrypoints", "cli.mjs");
const TEMPLATE = "waymark_template";

const log = createLogger({ level: "info", component: "test" });
let interrupted: NodeJS.Signals | undefined;
let ava: ChildProcess | undefined;

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    interrupted = signal;
    ava?.kill(signal); // on Ctrl-C ava already has it (same process group); harmless twice
  });
}

const signalExitCode = (signal: NodeJS.Signals) => 128 + (os.constants.signals[signal] ?? 0);

async function templateCreate(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${TEMPLATE} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${TEMPLATE}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${TEMPLATE}`;
  await migrate({ connectionString: url.toString() });
}

function avaRun(adminUrl: string, tmpdir: string): Promise<number> {
  if (!existsSync(AVA)) throw new Error(`ava is not installed (${AVA} is missing): run npm ci`);
  return new Promise((resolve, reject) => {
    ava = spawn(process.execPath, [AVA, ...process.argv.slice(2)], {
      cwd: ROOT,
      stdio: "inherit",
      env: { ...process.env, TMPDIR: tmpdir, WAYMARK_TEST_DATABASE_URL: adminUrl, WAYMARK_TEST_TEMPLATE: TEMPLATE },
    });
    ava.once("error", reject);
    ava.once("exit", (code, signal) => resolve(code ?? (signal ? signalExitCode(signal) : 1)));
  });
}

async function main(): Promise<number> {
  let server: EmbeddedServer | undefined;
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "waymark-test-"));
  try {
    // As root, the postgres user must be able to enter it (and the servers tests start in it).
    await fs.chmod(tmp, 0o755);
    const tests = path.join(tmp, "tmp");
    await fs.mkdir(tests, { mode: 0o755 });
    let adminUrl = process.env.WAYMARK_TEST_DATABASE_URL;
    if (!adminUrl) {
      const data = path.join(tmp, "postgres");
      await fs.mkdir(data, { mode: 0o755 });
      server = await embeddedStart({ dir: data, log, settings: TEST_POSTGRES_SETTINGS });
      const url = new URL(server.url);
      url.pathname = "/postgres";
      adminUrl = url.toString();
    }
    if (interrupted) return signalExitCode(interrupted);
    await templateCreate(adminUrl);
    if (interrupted) return signalExitCode(interrupted);
    return await avaRun(adminUrl, tests);
  } finally {
    await server?.stop().catch((e: unknown) => log.error("could not stop the test database", { error: e }));
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log.error("test run failed", { error: e });
    process.exit(1);
  },
);
