/**
 * The claim and completion statements on their own, without a supervisor: a queue of `--queued`
 * instances, `--claimers` loops that each claim `--limit` and complete them (with their attempt
 * rows), on a PostgreSQL of the bench's own. Run by hand after `npm run build`:
 *
 *   node dist/bench/claims.js [--queued 20000] [--limit 20] [--claimers 2]
 *
 * It shows what the queue's SQL costs, and catches plans that go wrong with the statistics of a
 * table that filled in a second (a fresh schema, as every bench scenario has).
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import { instanceClaim } from "../store/leases.js";
import { instancesPersist } from "../store/progress.js";
import { instanceInsertMany } from "../store/instances.js";
import { migrate } from "../store/migrate.js";
import { versionUpsert } from "../store/versions.js";
import { privateServer } from "./server.js";

const { values } = parseArgs({
  options: { queued: { type: "string", default: "20000" }, limit: { type: "string", default: "20" }, claimers: { type: "string", default: "2" } },
});
const queued = Number(values.queued);
const limit = Number(values.limit);
const server = await privateServer({ prefix: "waymark-claims-" });
try {
  await migrate({ connectionString: server.url });
  const db = new pg.Pool({ connectionString: server.url, max: Number(values.claimers) + 2 });
  const versionId = await versionUpsert(db, { name: "W", hash: "h", ir: { format: 2, name: "W", fns: [] } as never });
  const ids = Array.from({ length: queued }, () => randomUUID());
  for (let i = 0; i < queued; i += 1000)
    await instanceInsertMany(db, { workflowName: "W", versionId, ids: ids.slice(i, i + 1000), args: ids.slice(i, i + 1000).map(() => [1]) });
  let claimMs = 0;
  let persistMs = 0;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Number(values.claimers) }, async (_, w) => {
      for (;;) {
        let t = performance.now();
        const batch = await instanceClaim(db, { owner: `o${w}`, limit, leaseMs: 60_000 });
        claimMs += performance.now() - t;
        if (!batch.length) return;
        t = performance.now();
        await instancesPersist(db, {
          owner: `o${w}`,
          instances: batch.map((c) => ({ id: c.id, epoch: c.epoch, status: "completed", state: null, result: 1 })),
          attempts: batch.map((c) => ({
            instanceId: c.id,
            actionSeq: 1,
            attempt: 1,
            nodeId: "n",
            actionName: "noop",
            status: "completed",
            args: [1],
            result: 1,
            startedAt: new Date(),
            finishedAt: new Date(),
          })),
        });
        persistMs += performance.now() - t;
        done += batch.length;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `${Math.round(done / seconds)} instances/s claimed and completed (${done} in ${seconds.toFixed(2)} s, ${limit} per claim, ${values.claimers} claimers); claims ${claimMs.toFixed(0)} ms, completions ${persistMs.toFixed(0)} ms in all`,
  );
  await db.end();
} finally {
  await server.remove();
}
