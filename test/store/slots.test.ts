import test from "ava";
import pg from "pg";
import { uuidv7 } from "../../core/ids.js";
import { slotsExchange, slotWaitsOf } from "../../store/slots.js";
import { testDatabase } from "../helpers/db.js";

/**
 * The shared flow-control state on a real Postgres: one queue per (action, key) across owners
 * (a freed slot goes to the oldest waiting call, whoever owns it, and its owner is told), and
 * exchanges of many owners at once over shared groups neither deadlock nor exceed a limit.
 */
async function setup(t: import("ava").ExecutionContext) {
  const db = await testDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  t.teardown(async () => {
    await pool.end();
    await db.drop();
  });
  return { pool, url: db.url };
}

const limits = { act: { concurrency: 1 } };
const call = (token: string) => ({ token, instanceId: uuidv7() });

test("a freed slot goes to the oldest waiting call, on another supervisor: its owner is told, and takes it at its next exchange", async (t) => {
  const { pool, url } = await setup(t);
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  t.teardown(() => listener.end());
  const told: string[] = [];
  listener.on("notification", (n) => told.push(n.payload ?? ""));
  await listener.query("LISTEN waymark_work");
  const ex = (owner: string, p: Partial<Parameters<typeof slotsExchange>[1]> = {}) =>
    slotsExchange(pool, { owner, ttlMs: 10_000, release: [], limits, requests: [], ...p });
  // C holds the slot; A's call waits first, then B's.
  t.deepEqual((await ex("C", { requests: [{ action: "act", key: "", waiting: [call("c1")] }] }))[0]!.granted, ["c1"]);
  const a1 = call("a1");
  const [a] = await ex("A", { requests: [{ action: "act", key: "", waiting: [a1] }] });
  t.deepEqual([a!.granted, a!.head], [[], 1]);
  const [b] = await ex("B", { requests: [{ action: "act", key: "", waiting: [call("b1")] }] });
  t.deepEqual([b!.granted, b!.head], [[], 0], "B's call is behind A's");
  t.deepEqual(
    (await slotWaitsOf(pool, { instanceId: a1.instanceId })).map((w) => w.blockedBy),
    ["concurrency"],
  );
  // C's call ends: its exchange gives the slot to A's call, not to B's, and tells A.
  const freed = await ex("C", { release: ["c1"] });
  t.deepEqual(
    freed.map((g) => g.granted),
    [[]],
  );
  await new Promise<void>((resolve) => {
    const check = () => (told.includes("grant A a1") ? resolve() : setTimeout(check, 10));
    check();
  });
  t.deepEqual(await slotWaitsOf(pool, { instanceId: a1.instanceId }), [], "a granted call no longer shows as waiting");
  // B asking again gets nothing; A's next exchange (without asking anew) takes its grant.
  t.deepEqual((await ex("B", { requests: [{ action: "act", key: "", waiting: [] }] }))[0]!.granted, []);
  t.deepEqual((await ex("A", { requests: [{ action: "act", key: "", waiting: [] }] }))[0]!.granted, ["a1"]);
  // A's call ends; B's is next.
  await ex("A", { release: ["a1"] });
  t.deepEqual((await ex("B", { requests: [{ action: "act", key: "", waiting: [] }] }))[0]!.granted, ["b1"]);
});

test("many supervisors exchanging at once over shared groups: no deadlock, and no group ever over its limit", async (t) => {
  const { pool } = await setup(t);
  const groups = [
    { action: "one", key: "k1" },
    { action: "one", key: "k2" },
    { action: "two", key: "k1" },
    { action: "two", key: "k2" },
  ];
  const lim = { one: { concurrency: 2 }, two: { concurrency: 3 } };
  const owners = Array.from({ length: 6 }, (_, i) => ({
    name: `o${i}`,
    waiting: new Map<string, Array<{ token: string; instanceId: string }>>(),
    held: [] as string[],
  }));
  let n = 0;
  let granted = 0;
  for (let round = 0; round < 40; round++) {
    await Promise.all(
      owners.map(async (o, i) => {
        // Each owner adds calls to two groups (in an order of its own), and ends half of what it holds.
        for (const g of [groups[(i + round) % 4]!, groups[(i + round + 1) % 4]!]) {
          const id = `${g.action}\u0000${g.key}`;
          o.waiting.set(id, [...(o.waiting.get(id) ?? []), call(`${o.name}-${n++}`)]);
        }
        const release = o.held.splice(0, Math.ceil(o.held.length / 2));
        const requests = [...o.waiting].map(([id, waiting]) => {
          const [action, key] = id.split("\u0000") as [string, string];
          return { action, key, waiting };
        });
        const out = await slotsExchange(pool, { owner: o.name, ttlMs: 60_000, release, limits: lim, requests });
        for (const grant of out) {
          const id = `${grant.action}\u0000${grant.key}`;
          o.waiting.set(
            id,
            (o.waiting.get(id) ?? []).filter((c) => !grant.granted.includes(c.token)),
          );
          o.held.push(...grant.granted);
          granted += grant.granted.length;
        }
      }),
    );
    const { rows } = await pool.query<{ action_name: string; n: number }>(
      "SELECT action_name, count(*)::int AS n FROM waymark.action_slots GROUP BY action_name, limit_key",
    );
    for (const r of rows) t.true(r.n <= (r.action_name === "one" ? 2 : 3), `round ${round}: ${r.n} slots of ${r.action_name} held`);
  }
  t.true(granted > 100, `${granted} calls granted over 40 rounds`);
});
