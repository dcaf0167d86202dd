import test from "ava";
import pg from "pg";
import {
  close,
  getInstance,
  publish,
  waitForEvent,
  InstanceFinishedError,
  InstanceNotFoundError,
  sendEvent,
  SerializationError,
  WorkflowCancelledError,
  WorkflowFailedError,
} from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { silentLogger } from "../../log/logger.js";
import { instanceView, webData } from "../../web/data.js";
import { instancePage } from "../../web/pages/instance.js";
import { execa } from "execa";
import { CLI, ROOT, supervise, type SupervisorProcess } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

/**
 * Events and child workflows on a real supervisor: mailboxes that keep messages sent before the
 * wait, each taken once; waits that leave memory and wake on NOTIFY; published values read
 * while the instance runs and after; children waited for in parallel, detached, failing, and
 * cancelled with their parent.
 */
const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/events.ts";
let sup: SupervisorProcess;
let E: typeof import("../fixtures/workflows/events.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  // Waiting instances leave memory at once: every wake-up below goes through the claim.
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE], env: { WAYMARK_EVICT_SLEEP_THRESHOLD_MS: "0" } });
  E = await import("../fixtures/workflows/events.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
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

const statusOf = async (id: string) => (await query<{ status: string }>("SELECT status FROM waymark.instances WHERE id = $1", [id]))[0]?.status;

test("an approval: the workflow publishes, sleeps out of memory waiting, and the event wakes it", async (t) => {
  const handle = await new E.OrderApproval().start(["o-1"]);
  t.is(await handle.published("stage", { waitMs: 10_000 }), "waiting for approval");
  await until("the instance asleep", async () => (await statusOf(handle.instanceId)) === "sleeping");
  const [row] = await query<{ state_len: number; scheduled: string }>(
    "SELECT length(state) AS state_len, scheduled_at::text AS scheduled FROM waymark.instances WHERE id = $1",
    [handle.instanceId],
  );
  t.true(row!.state_len < 4000, `a waiting instance's snapshot stays small (${row!.state_len} characters)`);
  t.true(Date.parse(row!.scheduled) > Date.now() + 2 * 86_400_000, "asleep until its 3-day deadline, or the message");
  await handle.sendEvent("approval", { approved: true, by: "ada" });
  t.is(await handle.result(), "approved by ada");
  t.is(await handle.published("stage"), "decided");
  t.is(await getInstance(handle.instanceId).published("stage"), "decided", "read by id too, after the instance finished");
  t.is(await handle.published("never"), undefined);
});

test("an instance waiting without a deadline sleeps until a message; its page shows what it waits for", async (t) => {
  const handle = await new E.TakeMany().start([1]);
  await until("the instance asleep", async () => (await statusOf(handle.instanceId)) === "sleeping");
  const [row] = await query<{ scheduled: string }>("SELECT scheduled_at::text AS scheduled FROM waymark.instances WHERE id = $1", [handle.instanceId]);
  t.is(row!.scheduled, "infinity");
  // Its page (regression: the 'infinity' wake time made the page fail) shows what it waits for.
  const pool = new pg.Pool({ connectionString: await dbUrl() });
  try {
    const page = instancePage((await instanceView(webData({ db: pool, log: silentLogger }), handle.instanceId))!);
    t.regex(page, /when a message or a child(&#39;|')s end arrives/);
    t.regex(page, /data-wait="event"[^>]*>a message <b>item<\/b>/);
    t.regex(page, /<g class="node kind-event"/, "the wait is a node of its own kind in the graph");
  } finally {
    await pool.end();
  }
  await handle.sendEvent("item", "x");
  t.deepEqual(await handle.result(), ["x"]);
});

test("a wait that times out returns undefined; a message sent before the wait is kept for it", async (t) => {
  const late = await new E.OrderApproval().start(["o-2", 300]);
  t.is(await late.result(), "escalated");
  const early = await new E.OrderApproval().start(["o-3", 60_000], { delayMs: 1500 });
  await early.sendEvent("approval", { approved: false, by: "bob" });
  t.is(await early.status(), "queued");
  t.is(await early.result(), "rejected");
});

test("ten messages in a loop: each taken exactly once, in the order they were sent, whatever the timing", async (t) => {
  const handle = await new E.TakeMany().start([10]);
  for (let i = 0; i < 10; i++) await sendEvent(handle.instanceId, "item", { i });
  t.deepEqual(
    await handle.result(),
    Array.from({ length: 10 }, (_, i) => ({ i })),
  );
  const rows = await query<{ n: number; consumed: number }>(
    "SELECT count(*)::int AS n, count(consumed_at)::int AS consumed FROM waymark.events WHERE instance_id = $1",
    [handle.instanceId],
  );
  t.deepEqual(rows[0], { n: 10, consumed: 10 });
});

test("an idempotency key stores a message once; unknown, malformed and finished instances are refused and nothing is stored", async (t) => {
  const handle = await new E.TakeMany().start([2]);
  await sendEvent(handle.instanceId, "item", "a", { idempotencyKey: "mail-1" });
  await sendEvent(handle.instanceId, "item", "a again", { idempotencyKey: "mail-1" });
  await handle.sendEvent("item", "b");
  t.deepEqual(await handle.result(), ["a", "b"]);
  const gone = await t.throwsAsync(sendEvent(handle.instanceId, "item", "c"), { instanceOf: InstanceFinishedError });
  t.is(gone!.name, "InstanceFinishedError");
  const missing = await t.throwsAsync(sendEvent("00000000-0000-7000-8000-000000000001", "item", 1), { instanceOf: InstanceNotFoundError });
  t.is(missing!.name, "InstanceNotFoundError");
  await t.throwsAsync(getInstance("not-an-id").status(), { instanceOf: InstanceNotFoundError });
  await t.throwsAsync(getInstance("not-an-id").sendEvent("item", 1), { instanceOf: InstanceNotFoundError });
  await t.throwsAsync(
    sendEvent(handle.instanceId, "item", () => 1),
    { instanceOf: SerializationError },
  );
  await t.throwsAsync(sendEvent(handle.instanceId, "", 1), { instanceOf: TypeError });
  const [row] = await query<{ n: number }>("SELECT count(*)::int AS n FROM waymark.events WHERE instance_id = $1", [handle.instanceId]);
  t.is(row!.n, 2);
});

test("waits inside Promise.all and allSettled, beside an action and a sleep", async (t) => {
  const handle = await new E.WaitInParallel().start(["v"]);
  await handle.sendEvent("go", "went");
  t.deepEqual(await handle.result(), {
    echoed: "v",
    go: "went",
    slept: undefined,
    settled: [
      { status: "fulfilled", value: undefined },
      { status: "fulfilled", value: "x" },
    ],
  });
});

test("timeoutMs 0 takes a message already in the mailbox or gives undefined; a negative timeout and an unstorable publish throw in the workflow", async (t) => {
  const handle = await new E.Timeouts().start([], { delayMs: 1000 });
  await handle.sendEvent("early", "was there");
  t.deepEqual(await handle.result(), {
    held: "was there",
    empty: undefined,
    short: undefined,
    bad: "RangeError: waitForEvent's timeoutMs must be a finite number of milliseconds >= 0, got -1",
    unstorable: "SerializationError",
  });
});

test("a workflow sends to another instance, exactly once; a send to a missing one throws InstanceNotFoundError in it", async (t) => {
  const target = await new E.OrderApproval().start(["o-4"]);
  t.is(await new E.Messenger().run(target.instanceId, { approved: true, by: "a workflow" }), "InstanceNotFoundError");
  t.is(await target.result(), "approved by a workflow");
});

test("children: waited for in parallel, one detached (deduplicated by its key), listed in start order", async (t) => {
  const handle = await new E.Fulfil().start([["a", "b", "c"]]);
  const result = (await handle.result()) as { receipts: string[]; warehouse: string };
  t.deepEqual(result.receipts, ["receipt:a", "receipt:b", "receipt:c"]);
  const children = await handle.children();
  t.deepEqual(
    children.map((c) => [c.workflow, c.detached]),
    [
      ["ChargeOrder", false],
      ["ChargeOrder", false],
      ["ChargeOrder", false],
      ["warehouse.notify", true],
    ],
  );
  t.is(children[3]!.instanceId, result.warehouse);
  t.is(await getInstance(result.warehouse).result(), 3);
  // The same key again, from another parent: the first detached child, not a second.
  const again = (await new E.Fulfil().run(["a", "b", "c"])) as { warehouse: string };
  t.is(again.warehouse, result.warehouse);
});

test("a failed child throws WorkflowFailedError in the parent, catchable; uncaught, it fails the parent with it", async (t) => {
  t.deepEqual(await new E.CatchChild().run(["x", "bad-1"]), ["receipt:x", "WorkflowFailedError CardDeclined card declined for bad-1 string bad-1"]);
  const e = await t.throwsAsync(new E.UncaughtChild().run("bad-2"), { instanceOf: WorkflowFailedError });
  t.is(e!.errorName, "WorkflowFailedError");
  t.regex(e!.errorMessage, /CardDeclined: card declined for bad-2/);
});

test("cancelling a parent cancels the child it waits for; a detached child runs on", async (t) => {
  const handle = await new E.ParentOfWaiters().start(["p"]);
  let children: Awaited<ReturnType<typeof handle.children>> = [];
  await until("both children asleep", async () => {
    children = await handle.children();
    return children.length === 2 && children.every((c) => c.status === "sleeping");
  });
  await handle.cancel();
  await t.throwsAsync(handle.result(), { instanceOf: WorkflowCancelledError });
  const awaited = children.find((c) => !c.detached)!;
  const detached = children.find((c) => c.detached)!;
  await t.throwsAsync(getInstance(awaited.instanceId).result(), { instanceOf: WorkflowCancelledError });
  t.is(await getInstance(detached.instanceId).status(), "sleeping");
  await getInstance(detached.instanceId).sendEvent("never", 1);
  t.is(await getInstance(detached.instanceId).result(), "p-detached");
});

async function waymark(args: string[]) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  return execa(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...inherited, WAYMARK_DATABASE_URL: await dbUrl() }, extendEnv: false, reject: false });
}

test("the CLI sends an event (waymark instances send) and shows published values, messages and children", async (t) => {
  const handle = await new E.OrderApproval().start(["o-cli"]);
  t.is(await handle.published("stage", { waitMs: 10_000 }), "waiting for approval");
  const bad = await waymark(["instances", "send", handle.instanceId, "approval", "--data", "{nope"]);
  t.not(bad.exitCode, 0);
  t.regex(bad.stderr, /--data must be JSON/);
  const sent = await waymark(["instances", "send", handle.instanceId, "approval", "--data", '{"approved": true, "by": "cli"}', "--key", "k1"]);
  t.is(sent.exitCode, 0, sent.stderr);
  t.is(await handle.result(), "approved by cli");
  const missing = await waymark(["instances", "send", "00000000-0000-7000-8000-000000000009", "approval"]);
  t.is(missing.exitCode, 1);
  t.regex(missing.stderr, /no workflow instance 00000000-0000-7000-8000-000000000009/);
  const shown = JSON.parse((await waymark(["instances", "show", handle.instanceId, "--json"])).stdout);
  t.deepEqual(shown.published, { stage: "decided" });
  t.deepEqual(shown.messages, []);
  const parent = await new E.Fulfil().start([["p1"]]);
  await parent.result();
  const text = (await waymark(["instances", "show", parent.instanceId])).stdout;
  t.regex(text, /children \(2\):/);
  t.regex(text, /ChargeOrder {2}completed/);
  const child = (await parent.children())[0]!;
  t.regex((await waymark(["instances", "show", child.instanceId])).stdout, new RegExp(`parent {4}${parent.instanceId}`));
});

test("waits held in variables and awaited later take from their own mailboxes", async (t) => {
  const handle = await new E.HeldWaits().start([]);
  await handle.sendEvent("b", "bee");
  await handle.sendEvent("a", "ay");
  t.deepEqual(await handle.result(), ["ay", "bee"]);
});

test("waitForEvent and publish called as plain code (outside a workflow's run) say where they belong", async (t) => {
  await t.throwsAsync(waitForEvent("x"), { message: /waitForEvent\(\) runs only inside a workflow's run\(\)/ });
  await t.throwsAsync(publish("k", 1), { message: /publish\(\) runs only inside a workflow's run\(\)/ });
});
