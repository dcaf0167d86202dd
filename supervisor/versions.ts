/**
 * The shards' view of workflow versions: a version's IR is loaded from Postgres on first use and
 * kept, since a version's IR never changes (its row is keyed by the IR's hash). A version
 * compiled to another IR format is refused, naming both formats, and a failed load is not
 * cached, so the next instance of that version tries again.
 */
import type pg from "pg";
import type { WorkflowIR } from "../core/ir.js";
import { IR_FORMAT } from "../core/ir.js";
import { versionsGet } from "../store/versions.js";

/** A version as the executor needs it: its IR, and where its class is (for stacks and limit errors). */
export interface LoadedVersion {
  ir: WorkflowIR;
  source: { file: string; line: number } | undefined;
}

/**
 * Workflow IR by version id, loaded once per version (instances pin a version, so a supervisor
 * sees few of them) and kept for the life of the process.
 */
export class VersionCache {
  private readonly cache = new Map<number, Promise<LoadedVersion>>();
  /** The versions loaded, for callers that can go on at once when theirs is (Shard.adopt). */
  private readonly ready = new Map<number, LoadedVersion>();
  constructor(private readonly db: pg.Pool) {}

  /** The version if it is loaded already; undefined until then (ask `get`). */
  loaded(id: number): LoadedVersion | undefined {
    return this.ready.get(id);
  }

  get(id: number): Promise<LoadedVersion> {
    let hit = this.cache.get(id);
    if (!hit) {
      hit = versionsGet(this.db, { ids: [id] }).then((rows) => {
        const row = rows[0];
        if (!row) throw new Error(`workflow version ${id} does not exist`);
        if (row.ir.format !== IR_FORMAT) {
          throw new Error(
            `workflow version ${id} (${row.name}) was compiled to IR format ${row.ir.format}; this waymark runs format ${IR_FORMAT}: run it with the waymark version that queued it`,
          );
        }
        const version = { ir: row.ir, source: row.sourceFile && row.sourceLine !== null ? { file: row.sourceFile, line: row.sourceLine } : undefined };
        this.ready.set(id, version);
        return version;
      });
      hit.catch(() => this.cache.delete(id));
      this.cache.set(id, hit);
    }
    return hit;
  }
}
