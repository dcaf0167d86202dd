/**
 * Who uses the embedded server, and who may change it: `<dir>/start.lock` is held while a process
 * checks, initialises, starts or stops the server; `<dir>/users/<pid>` registers each process
 * using it, so the last one out stops it.
 */
import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log/logger.js";
import { WaymarkError } from "../core/errors.js";
import { mtime } from "./files.js";

const LOCK_TIMEOUT_MS = 120_000;

/** Registrations held by this process, per directory: `users/<pid>` goes when the count hits 0. */
const registrations = new Map<string, number>();

/** Whether process `pid` is alive: one that exited but was not reaped yet (a zombie) is not. */
export function pidAlive(pid: number): boolean {
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

/**
 * `<dir>/start.lock`, created exclusively and holding our pid. A lock whose pid is dead is stale:
 * it is removed and we try again.
 */
export async function lockAcquire(dir: string, log: Logger): Promise<() => Promise<void>> {
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

export async function register(dir: string): Promise<void> {
  registrations.set(dir, (registrations.get(dir) ?? 0) + 1);
  await fs.writeFile(path.join(dir, "users", String(process.pid)), `${process.pid}\n`);
}

export async function unregister(dir: string): Promise<void> {
  const left = (registrations.get(dir) ?? 1) - 1;
  if (left > 0) {
    registrations.set(dir, left);
    return;
  }
  registrations.delete(dir);
  await fs.rm(path.join(dir, "users", String(process.pid)), { force: true });
}

/** Whether any registered process is alive (this one included, if it still holds a registration); prunes the dead. */
export async function usersAlive(dir: string): Promise<boolean> {
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
