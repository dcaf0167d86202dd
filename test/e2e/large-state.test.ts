import test from "ava";
import pg from "pg";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

/**
 * A state that grows at every step is written in parts (store/state.ts): a step writes a few
 * chunks, not the whole state, and a supervisor killed mid-way leaves a state the next one
 * resumes from exactly.
 */
const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/large-state.ts";
const ENV = { WAYMARK_LOCK_TTL_MS: "1500", WAYMARK_LOCK_HEARTBEAT_MS: "300", WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "200" };
const running: SupervisorProcess[] = [];

test.after.always(async () => {
  await close();
  for (const s of running) await s.stop().catch(() => undefined);
});

async function query<R = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as R[];
  } finally {
    await c.end();
  }
}

test.serial("a growing state is written a few chunks a step, survives kill -9 of its supervisor, and ends with every result in order", async (t) => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  const { Accumulate } = await import("../fixtures/workflows/large-state.js");
  const first = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: ENV });
  running.push(first);
  const n = 600;
  const handle = await new Accumulate().start([n]);
  const id = handle.instanceId;
  // Past 8 KiB the row holds a manifest, and the table the chunks it names.
  await until("the state is written in parts", async () => {
    const [row] = await query<{ state: string | null }>("SELECT state FROM waymark.instances WHERE id = $1", [id]);
    return row?.state?.startsWith("@") === true;
  });
  // Between two writes of the same instance, only a few chunks are new.
  const ids = async () => new Set((await query<{ id: number }>("SELECT id FROM waymark.state_chunks WHERE instance_id = $1", [id])).map((r) => r.id));
  const a = await ids();
  await until("a few more steps", async () => {
    const b = await ids();
    return [...b].some((x) => !a.has(x));
  });
  const b = await ids();
  const fresh = [...b].filter((x) => !a.has(x)).length;
  t.true(fresh <= 8, `${fresh} new chunks of ${b.size} between two looks`);
  await until("well into the loop", async () => {
    const [row] = await query<{ n: number }>("SELECT count(*)::int AS n FROM waymark.action_attempts WHERE instance_id = $1", [id]);
    return row!.n >= 200;
  });
  await first.kill();
  const second = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: ENV });
  running.push(second);
  const result = await handle.result();
  t.deepEqual(
    result,
    Array.from({ length: n }, (_, i) => `piece ${i} ${"x".repeat(90)}`),
  );
  // Finished: no chunk left behind.
  t.is((await ids()).size, 0);
});
