/**
 * TypeScript already transformed, kept on disk: a process that loads a module the same way as one
 * before it (every action child after the first process of a deploy) reads the JavaScript back
 * and never loads swc. The key is everything the output depends on: swc's version, the file's
 * path (it is in the source map) and its source; a changed file is a new key, so nothing is
 * invalidated by hand. Entries are written whole (a temp file renamed into place), so readers in
 * other processes never see half of one.
 *
 * Where: `node_modules/.cache/waymark/ts` in the working directory when it has a node_modules
 * folder (where build tools keep their caches), else `waymark-ts-cache` in the OS temp folder.
 * Deleting the folder is always safe. Any failure to read or write it just means transforming.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

/** Bumped when the transform's options change. */
const FORMAT = "1";

let dir: string | null | undefined;

function cacheDir(): string | null {
  if (dir !== undefined) return dir;
  const local = path.join(process.cwd(), "node_modules");
  dir = existsSync(local) ? path.join(local, ".cache", "waymark", "ts") : path.join(os.tmpdir(), "waymark-ts-cache");
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    dir = null;
  }
  return dir;
}

let swcVersion: string | undefined;

/** swc's version, read from its package.json: loading swc itself to ask would defeat the cache. */
function version(): string {
  if (swcVersion === undefined) {
    try {
      const file = createRequire(import.meta.url).resolve("@swc/core/package.json");
      swcVersion = (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
    } catch {
      swcVersion = "unknown";
    }
  }
  return swcVersion;
}

/** The cached output for this file and source, or what `transform` makes of it (then cached). */
export function cachedTransform(code: string, filename: string, transform: () => string): string {
  const root = cacheDir();
  if (!root) return transform();
  const key = createHash("sha256").update(`${FORMAT}\0${version()}\0${filename}\0`).update(code).digest("hex");
  const file = path.join(root, `${key}.js`);
  try {
    return readFileSync(file, "utf8");
  } catch {
    // Not cached yet.
  }
  const out = transform();
  try {
    const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    writeFileSync(tmp, out);
    renameSync(tmp, file);
  } catch {
    // A read-only or full disk: the next process transforms again.
  }
  return out;
}
