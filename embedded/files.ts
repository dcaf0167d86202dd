/**
 * The state files under the embedded server's directory (see embedded/server.ts for the layout):
 * written atomically with mode 0600, since cluster.json and postgres.json hold the superuser's
 * password, and read leniently (a file missing or half-written by a crash reads as absent).
 */
import fs from "node:fs/promises";

export async function jsonRead<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export async function fileWriteAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text, { mode: 0o600 });
  await fs.rename(tmp, file);
}

export const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );
export const mtime = (p: string) =>
  fs.stat(p).then(
    (s) => s.mtimeMs,
    () => 0,
  );
