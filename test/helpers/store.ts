/**
 * A test database for the store's statements, with one workflow version ("W") registered, and
 * a way to queue instances of it.
 */
import type { ExecutionContext } from "ava";
import pg from "pg";
import { instanceInsert } from "../../store/instances.js";
import { versionUpsert } from "../../store/versions.js";
import { uuidv7 } from "../../core/ids.js";
import { testDatabase } from "./db.js";

export async function storeSetup(t: ExecutionContext) {
  const db = await testDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  t.teardown(async () => {
    await pool.end();
    await db.drop();
  });
  const versionId = await versionUpsert(pool, { name: "W", hash: "h1", ir: { format: 2, name: "W", fns: [] } as never });
  const queue = async (n: number, extra: { priority?: number; delayMs?: number } = {}) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await instanceInsert(pool, { id: uuidv7(), workflowName: "W", versionId, args: [i], ...extra })).id);
    return ids;
  };
  return { pool, versionId, queue };
}
