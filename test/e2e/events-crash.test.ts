import test from "ava";
import pg from "pg";
import { close, getInstance, sendEvent } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

/**
 * Exactly once across crashes: a supervisor killed (-9) while an instance takes messages in
 * memory, or while a parent waits for its children, leaves nothing taken twice or lost and no
 * child started twice: the next supervisor resumes from the last written state.
 */
const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/events.ts";
// Short leases, so the survivor reclaims quickly; waiting instances stay in memory (the default
// threshold), so the kill finds them held, with takes not yet written.
const ENV = {
  WAYMARK_LOCK_TTL_MS: "1500",
  WAYMARK_LOCK_HEARTBEAT_MS: "300",
  WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "200",
  WAYMARK_PERSIST_INTERVAL_MS: "200",
};
let E: typeof import("../fixtures/workflows/events.js");
const running: SupervisorProcess[] = [];

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  E = await import("../fixtures/workflows/events.js");
});

test.after.always(async () => {
  await close();
  for (const s of running) await s.stop().catch(() => undefined);
});

async function start(): Promise<SupervisorProcess> {
  const s = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: ENV });
  running.push(s);
  return s;
}

async function query<R = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: await dbUrl() });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as R[];
  } finally {
    await c.end();
  }
}

test.serial("messages taken in memory when the supervisor dies are taken again by the next one, each exactly once, in order", async (t) => {
  const first = await start();
  const handle = await new E.TakeMany().start([30]);
  for (let i = 0; i < 15; i++) await sendEvent(handle.instanceId, "item", i);
  await until("some messages taken", async () => ((await handle.published<number>("taken")) ?? 0) >= 5);
  await first.kill();
  const second = await start();
  for (let i = 15; i < 30; i++) await sendEvent(handle.instanceId, "item", i);
  t.deepEqual(
    await second.alive(handle.result()),
    Array.from({ length: 30 }, (_, i) => i),
  );
  const [row] = await query<{ n: number; consumed: number }>(
    "SELECT count(*)::int AS n, count(consumed_at)::int AS consumed FROM waymark.events WHERE instance_id = $1",
    [handle.instanceId],
  );
  t.deepEqual(row, { n: 30, consumed: 30 });
  await second.stop();
});

test.serial("a parent whose supervisor dies while it waits for its children starts each child once and gets every result", async (t) => {
  const first = await start();
  const handle = await new E.FanOutWaiters().start([6]);
  await until("six children waiting", async () => {
    const children = await handle.children();
    return children.length === 6 && children.every((c) => c.status === "running" || c.status === "sleeping");
  });
  await first.kill();
  const second = await start();
  for (const c of await handle.children()) await getInstance(c.instanceId).sendEvent("go", "yes");
  t.deepEqual(await second.alive(handle.result()), ["c0:yes", "c1:yes", "c2:yes", "c3:yes", "c4:yes", "c5:yes"]);
  const [row] = await query<{ n: number }>("SELECT count(*)::int AS n FROM waymark.instances WHERE parent_id = $1", [handle.instanceId]);
  t.is(row!.n, 6);
  await second.stop();
});
