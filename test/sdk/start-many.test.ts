import test from "ava";
import pg from "pg";
import { close } from "waymark";
import { instanceClaim } from "../../store/leases.js";
import { useTestDatabase } from "../helpers/db.js";

/** `startMany()`: chunks sent on several connections at once, one moment for the whole call. */
const dbUrl = useTestDatabase(test);
let pool: pg.Pool;

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  pool = new pg.Pool({ connectionString: await dbUrl(), max: 2 });
});

test.after.always(async () => {
  await close();
  await pool?.end();
});

test.serial("startMany queues every instance once, however many statements it takes, all due at one moment and claimed in the order given", async (t) => {
  const { FiveSteps } = await import("../fixtures/workflows/pool.js");
  const n = 3_500; // four statements, some in flight at once
  // Ids increase in the order made (core/ids.ts), and every instance of the call is due at once:
  // the claim takes them in the order given, whichever statement committed first.
  const ids = await FiveSteps.startMany(Array.from({ length: n }, (_, i) => [i, 0] as [number, number]));
  t.is(new Set(ids).size, n);
  const { rows } = await pool.query("SELECT id::text, args, scheduled_at::text AS at FROM waymark.instances WHERE id = ANY($1::uuid[])", [ids]);
  t.is(rows.length, n);
  t.is(new Set(rows.map((r) => r.at)).size, 1, "every instance of the call is due at the same moment");
  const byId = new Map(rows.map((r) => [r.id, r.args]));
  t.deepEqual(
    ids.map((id) => byId.get(id)),
    Array.from({ length: n }, (_, i) => [i, 0]),
  );
  // Claimed in the order given, whichever statement committed first.
  const claimed: string[] = [];
  for (;;) {
    const batch = await instanceClaim(pool, { owner: "t", limit: 200, leaseMs: 60_000 });
    if (!batch.length) break;
    claimed.push(...batch.map((c) => c.id));
  }
  t.deepEqual(claimed, ids);
});

test.serial("startMany with delayMs makes the whole call due that long after its first statement", async (t) => {
  const { FiveSteps } = await import("../fixtures/workflows/pool.js");
  const ids = await FiveSteps.startMany(
    Array.from({ length: 1_500 }, (_, i) => [i, 0] as [number, number]),
    { delayMs: 3_600_000 },
  );
  const { rows } = await pool.query(
    "SELECT DISTINCT round(extract(epoch FROM scheduled_at - now()))::int AS s FROM waymark.instances WHERE id = ANY($1::uuid[])",
    [ids],
  );
  t.is(rows.length, 1);
  t.true(rows[0].s > 3590 && rows[0].s <= 3600, `due in ${rows[0].s} s`);
});
