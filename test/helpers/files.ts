import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** A temp directory the workers write notes into (TEST_DIR), and a reader for those notes. */
export function notesDir(): { dir: string; lines(file: string): string[] } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-notes-"));
  return {
    dir,
    lines: (file) => {
      const p = path.join(dir, file);
      return existsSync(p) ? readFileSync(p, "utf8").trim().split("\n").filter(Boolean) : [];
    },
  };
}
