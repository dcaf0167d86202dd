import test, { type ExecutionContext } from "ava";
import { silentLogger } from "../../log/logger.js";
import { encodeFailure } from "../../core/codec.js";
import { instanceClaim } from "../../store/leases.js";
import type { AttemptWrite } from "../../store/attempts.js";
import type { InstanceWrite } from "../../store/progress.js";
import { Persister, type Writable } from "../../supervisor/persister.js";
import { storeSetup } from "../helpers/store.js";

/**
 * The persister in this process against a real Postgres: one write that Postgres refuses for what
 * it carries fails that instance alone; the others in its batch are written, and nothing waits.
 */

/** An instance as the persister sees it: a state to write, or, once refused, its failure. */
class Instance implements Writable {
  written: string[] = [];
  refusedWith: string | undefined;
  constructor(
    readonly id: string,
    private readonly epoch: number,
    private state: string,
    private readonly attemptRows: AttemptWrite[] = [],
  ) {}

  collect(): { write: InstanceWrite; attempts: AttemptWrite[]; after: () => void; undo: () => void } {
    const write: InstanceWrite = this.refusedWith
      ? { id: this.id, epoch: this.epoch, status: "failed", state: null, error: encodeFailure(new Error(this.refusedWith)) }
      : { id: this.id, epoch: this.epoch, status: "running", state: this.state };
    const attempts = this.refusedWith ? [] : this.attemptRows;
    return { write, attempts, after: () => this.written.push(write.status), undo: () => undefined };
  }

  refused(reason: string): void {
    this.refusedWith = reason;
  }
}

async function setup(t: ExecutionContext) {
  const { pool, queue } = await storeSetup(t);
  const ids = await queue(5);
  const claimed = await instanceClaim(pool, { owner: "me", limit: 5, leaseMs: 60_000 });
  const epoch = new Map(claimed.map((c) => [c.id, c.epoch]));
  return { pool, ids, epoch };
}

test("a write Postgres refuses for its content fails that instance alone; the rest of the batch is written and nothing is retried for ever", async (t) => {
  const { pool, ids, epoch } = await setup(t);
  const lost: string[] = [];
  const persister = new Persister({
    db: pool,
    owner: "me",
    batchSize: 100,
    intervalMs: 10,
    log: silentLogger,
    onLost: (l) => lost.push(...l.map((x) => x.id)),
  });
  // A raw NUL in a text column: Postgres refuses it (22021), however often it is asked.
  const poison = ["state with a raw \u0000 inside", "fine"];
  const instances = ids.map((id, i) => new Instance(id, epoch.get(id)!, i === 1 || i === 3 ? poison[0]! : `state ${i}`));
  for (const w of instances) persister.mark(w, true);
  t.is(await persister.drain(Date.now() + 20_000), 0, "everything written within the deadline");
  persister.stop();
  const rows = await pool.query("SELECT id::text, status, state, error->>'message' AS message FROM waymark.instances");
  const byId = new Map(rows.rows.map((r) => [r.id as string, r]));
  for (const [i, w] of instances.entries()) {
    const row = byId.get(w.id)!;
    if (i === 1 || i === 3) {
      t.is(row.status, "failed");
      t.regex(row.message, /^Postgres refused it \(22021: invalid byte sequence for encoding "UTF8": 0x00\)/);
      t.deepEqual(w.written, ["failed"]);
    } else {
      t.is(row.status, "running");
      t.is(row.state, `state ${i}`);
      t.deepEqual(w.written, ["running"]);
    }
  }
  t.deepEqual(lost, []);
});

test("an attempt row that Postgres refuses fails its instance alone too", async (t) => {
  const { pool, ids, epoch } = await setup(t);
  const persister = new Persister({ db: pool, owner: "me", batchSize: 100, intervalMs: 10, log: silentLogger, onLost: () => undefined });
  const row = (id: string, name: string): AttemptWrite => ({
    instanceId: id,
    actionSeq: 1,
    attempt: 1,
    nodeId: "n",
    actionName: name,
    status: "completed",
    args: [1],
    result: 2,
    startedAt: new Date(),
    finishedAt: new Date(),
  });
  const good = new Instance(ids[0]!, epoch.get(ids[0]!)!, "a", [row(ids[0]!, "fine")]);
  const bad = new Instance(ids[1]!, epoch.get(ids[1]!)!, "b", [row(ids[1]!, "bad\u0000name")]);
  persister.mark(good, true);
  persister.mark(bad, true);
  t.is(await persister.drain(Date.now() + 20_000), 0);
  persister.stop();
  const attempts = await pool.query("SELECT instance_id::text, action_name FROM waymark.action_attempts");
  t.deepEqual(attempts.rows, [{ instance_id: ids[0], action_name: "fine" }]);
  t.deepEqual(bad.written, ["failed"]);
  t.deepEqual(good.written, ["running"]);
});
