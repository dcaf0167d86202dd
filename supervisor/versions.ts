import type pg from "pg";
import type { WorkflowIR } from "../compiler/ir.js";
import { IR_FORMAT } from "../compiler/ir.js";
import { versionsGet } from "../store/versions.js";

/**
 * Workflow IR by version id, loaded once per version (instances pin a version, so a supervisor
 * sees few of them) and kept for the life of the process.
 */
export class VersionCache {
  private readonly cache = new Map<number, Promise<WorkflowIR>>();
  constructor(private readonly db: pg.Pool) {}

  get(id: number): Promise<WorkflowIR> {
    let hit = this.cache.get(id);
    if (!hit) {
      hit = versionsGet(this.db, { ids: [id] }).then((rows) => {
        const row = rows[0];
        if (!row) throw new Error(`workflow version ${id} does not exist`);
        if (row.ir.format !== IR_FORMAT) {
          throw new Error(`workflow version ${id} (${row.name}) was compiled to IR format ${row.ir.format}; this waymark runs format ${IR_FORMAT}: run it with the waymark version that queued it`);
        }
        return row.ir;
      });
      hit.catch(() => this.cache.delete(id));
      this.cache.set(id, hit);
    }
    return hit;
  }
}
