import test from "ava";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";
import { execa } from "execa";
import { CLI, ROOT } from "../helpers/supervise.js";
import { silentLogger } from "../../log/logger.js";
import { instanceView, webData } from "../../web/data.js";
import { instancePage } from "../../web/pages/instance.js";

async function waymark(args: string[]) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  return execa(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...inherited, WAYMARK_DATABASE_URL: await dbUrl() }, extendEnv: false, reject: false });
}

/**
 * Flow control on real parts: three supervisors share each action's limits (a ledger of starts
 * and ends, written by the actions themselves, shows the peak), a rate limit holds over sliding
 * windows, each key has its own budget (a hot key does not hold up cold ones), and slots come
 * back when their attempt times out, is cancelled, or its supervisor is killed.
 */
const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/limits.ts";
const dir = mkdtempSync(path.join(os.tmpdir(), "waymark-limits-"));
const ENV = { TEST_DIR: dir, WAYMARK_LOCK_TTL_MS: "1500", WAYMARK_LOCK_HEARTBEAT_MS: "300", WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "200" };
const sups: SupervisorProcess[] = [];
let L: typeof import("../fixtures/workflows/limits.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  for (let i = 0; i < 3; i++) sups.push(await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: ENV }));
  L = await import("../fixtures/workflows/limits.js");
});

test.after.always(async () => {
  await close();
  for (const s of sups) await s.stop().catch(() => undefined);
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

interface Entry {
  action: string;
  key: string;
  kind: "start" | "end";
  at: number;
  tag: string;
  pid: number;
}

function entries(prefix: string): Entry[] {
  return readFileSync(path.join(dir, "ledger.txt"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [action, key, kind, at, tag, pid] = l.split(" ");
      return { action: action!, key: key!, kind: kind as Entry["kind"], at: Number(at), tag: tag!, pid: Number(pid) };
    })
    .filter((e) => e.tag.startsWith(prefix));
}

/** The most attempts running at once, per key: ends before starts at the same millisecond. */
function peaks(list: Entry[]): Map<string, number> {
  const out = new Map<string, number>();
  const running = new Map<string, number>();
  const sorted = [...list].sort((a, b) => a.at - b.at || (a.kind === "end" ? -1 : 1));
  for (const e of sorted) {
    const n = (running.get(e.key) ?? 0) + (e.kind === "start" ? 1 : -1);
    running.set(e.key, n);
    out.set(e.key, Math.max(out.get(e.key) ?? 0, n));
  }
  return out;
}

test.serial("three supervisors share a concurrency limit of 3: never more than 3 running at once, and the limit is reached", async (t) => {
  const tags = Array.from({ length: 24 }, (_, i) => `c${i}`);
  // Four instances, claimed by different supervisors, all calling the same limited action.
  const handles = await Promise.all([0, 1, 2, 3].map((i) => new L.PartnerBurst().start([tags.slice(i * 6, i * 6 + 6), 120])));
  for (const h of handles) await h.result();
  const list = entries("c");
  t.is(list.filter((e) => e.kind === "start").length, 24);
  t.is(new Set(list.map((e) => e.pid)).size > 1, true, "the calls ran in several supervisors' children");
  t.is(peaks(list).get("-"), 3);
  t.deepEqual(await query("SELECT token FROM waymark.action_slots"), [], "every slot went back");
});

test.serial("a rate limit of 5 per 500 ms: no 500 ms window holds more than 5 starts, across supervisors", async (t) => {
  const tags = Array.from({ length: 16 }, (_, i) => `r${i}`);
  const started = Date.now();
  await Promise.all([0, 1].map((i) => new L.RatedBurst().run(tags.slice(i * 8, i * 8 + 8))));
  const took = Date.now() - started;
  const starts = (await query<{ at: Date }>("SELECT started_at AS at FROM waymark.action_starts WHERE action_name = 'rated' ORDER BY started_at")).map((r) =>
    r.at.getTime(),
  );
  t.is(starts.length, 16);
  for (let i = 0; i + 5 < starts.length; i++)
    t.true(starts[i + 5]! - starts[i]! >= 500, `starts ${i} and ${i + 5} are ${starts[i + 5]! - starts[i]!} ms apart`);
  t.true(took >= 1000, `16 starts at 5 per 500 ms take at least 1 s (took ${took} ms)`);
});

test.serial("per key: a hot key's queue does not hold up the cold keys, and each key runs one at a time", async (t) => {
  const hot = Array.from({ length: 8 }, (_, i) => ({ tenant: "hot", tag: `k-hot${i}` }));
  const cold = Array.from({ length: 4 }, (_, i) => ({ tenant: `cold${i}`, tag: `k-cold${i}` }));
  await new L.TenantBurst().run([...hot, ...cold], 100);
  const list = entries("k-");
  const p = peaks(list);
  for (const key of ["hot", "cold0", "cold1", "cold2", "cold3"]) t.is(p.get(key), 1, key);
  const lastHot = Math.max(...list.filter((e) => e.key === "hot" && e.kind === "end").map((e) => e.at));
  const lastCold = Math.max(...list.filter((e) => e.key.startsWith("cold") && e.kind === "end").map((e) => e.at));
  t.true(lastCold < lastHot - 300, `the cold keys finished ${lastHot - lastCold} ms before the hot one`);
});

test.serial("waiting calls start in the order they became ready, across supervisors", async (t) => {
  const waiting = async () => (await query<{ n: number }>("SELECT count(*)::int AS n FROM waymark.action_waits WHERE limit_key = 'fifo'"))[0]!.n;
  const holder = await new L.TenantBurst().start([[{ tenant: "fifo", tag: "f-hold" }], 60_000]);
  await until("the holder runs", async () => (await query("SELECT 1 FROM waymark.action_slots WHERE limit_key = 'fifo'")).length === 1);
  // Six instances, claimed by whichever supervisor, each on record in the queue before the next starts.
  const calls = [];
  for (let i = 0; i < 6; i++) {
    calls.push(await new L.TenantBurst().start([[{ tenant: "fifo", tag: `f-${i}` }], 30]));
    await until(`call ${i} waiting`, async () => (await waiting()) === i + 1);
  }
  const owners = await query<{ owner: string }>("SELECT DISTINCT owner FROM waymark.action_waits WHERE limit_key = 'fifo'");
  writeFileSync(path.join(dir, "f-hold.gate"), "");
  await holder.result();
  for (const c of calls) await c.result();
  const order = entries("f-")
    .filter((e) => e.kind === "start" && e.tag !== "f-hold")
    .sort((a, b) => a.at - b.at)
    .map((e) => e.tag);
  t.deepEqual(order, ["f-0", "f-1", "f-2", "f-3", "f-4", "f-5"]);
  t.true(owners.length > 1, `the waiting calls were spread over ${owners.length} supervisor(s)`);
});

test.serial("a timed-out attempt and a cancelled instance give their slots back", async (t) => {
  const slotsHeld = async () => (await query<{ n: number }>("SELECT count(*)::int AS n FROM waymark.action_slots"))[0]!.n;
  const waitsFor = (id: string) => async () => (await query("SELECT 1 FROM waymark.action_waits WHERE instance_id = $1", [id])).length === 1;
  // Two long calls and one that times out hold the three slots; a fourth waits.
  const [a, b] = await Promise.all(["t-a", "t-b"].map((tag) => new L.OnePartnerCall().start([tag, 60_000, 60_000])));
  const timing = await new L.OnePartnerCall().start(["t-timeout", 60_000, 5000]);
  await until("three slots held", async () => (await slotsHeld()) === 3);
  const next = await new L.OnePartnerCall().start(["t-next", 10, 60_000]);
  await until("the fourth call waiting, on record", waitsFor(next.instanceId));
  t.is(await timing.result(), "ActionTimeout");
  t.is(await next.result(), "t-next", "the timed-out attempt's slot went to the waiting call");
  // A third long call takes the free slot; the next waits until an instance holding one is cancelled.
  const c = await new L.OnePartnerCall().start(["t-c", 60_000, 60_000]);
  await until("three slots held again", async () => (await slotsHeld()) === 3);
  const last = await new L.OnePartnerCall().start(["t-after-cancel", 10, 60_000]);
  await until("waiting again", waitsFor(last.instanceId));
  // Waiting is visible: in instances show, the web app, and waymark status.
  const shown = await waymark(["instances", "show", last.instanceId]);
  t.regex(shown.stdout, /waiting {3}for the concurrency limit of callPartner, since /);
  const pool = new pg.Pool({ connectionString: await dbUrl() });
  try {
    const page = instancePage((await instanceView(webData({ db: pool, log: silentLogger }), last.instanceId))!);
    t.regex(page, /waiting for the concurrency limit of <b>callPartner<\/b>, since/);
  } finally {
    await pool.end();
  }
  t.regex((await waymark(["status"])).stdout, /callPartner {2}running 3 {2}waiting 1 {2}starts in the current window 0/);
  await a.cancel();
  t.is(await last.result(), "t-after-cancel", "the cancelled instance's slot went to the next call");
  for (const tag of ["t-b", "t-c"]) writeFileSync(path.join(dir, `${tag}.gate`), "");
  t.deepEqual([await b.result(), await c.result()], ["t-b", "t-c"]);
  await until("every slot back", async () => (await slotsHeld()) === 0);
});

test.serial("kill -9 of a supervisor holding slots: its share comes back within the lease TTL", async (t) => {
  // Fill the three slots, on whichever supervisors claim them.
  const holders = await Promise.all(["x-1", "x-2", "x-3"].map((tag) => new L.OnePartnerCall().start([tag, 60_000, 120_000])));
  await until("three slots held", async () => (await query<{ n: number }>("SELECT count(*)::int AS n FROM waymark.action_slots"))[0]!.n === 3);
  const owners = await query<{ owner: string }>("SELECT DISTINCT owner FROM waymark.action_slots");
  // Kill every supervisor that holds a slot but one, then let the last one's calls finish.
  const byOwner = async (owner: string) => {
    const [row] = await query<{ pid: number }>("SELECT pid FROM waymark.worker_status WHERE owner = $1", [owner]);
    return sups.find((s) => s.pid === row?.pid);
  };
  const victim = await byOwner(owners[0]!.owner);
  t.truthy(victim, "found the supervisor holding a slot");
  await victim!.kill();
  sups.splice(sups.indexOf(victim!), 1);
  const killedAt = Date.now();
  const after = await new L.OnePartnerCall().start(["x-after", 10, 60_000]);
  // The dead supervisor's slots expire: a call starts in them (the new one, or one of the dead
  // supervisor's own instances, resumed elsewhere and asking again).
  await until("a call started after the kill", () => entries("x-").some((e) => e.kind === "start" && e.at > killedAt), 10_000);
  const waited = Date.now() - killedAt;
  t.true(waited < 1500 + 3000, `started ${waited} ms after the kill (TTL 1500 ms)`);
  for (const tag of ["x-1", "x-2", "x-3"]) writeFileSync(path.join(dir, `${tag}.gate`), "");
  t.is(await after.result(), "x-after");
  // The killed supervisor's instances are resumed elsewhere; every call ends.
  const results = await Promise.all(holders.map((h) => h.result()));
  t.true(
    results.every((r, i) => r === `x-${i + 1}` || r === "ActionTimeout"),
    JSON.stringify(results),
  );
});
