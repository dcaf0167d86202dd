import test from "ava";
import { instanceStatusCounts } from "../../store/instance-pages.js";
import { useTestDatabase } from "../helpers/db.js";
import { call, getJson, webStart, type TestWeb } from "./server.js";

const dbUrl = useTestDatabase(test);
let web: TestWeb;
const STATUSES = ["completed", "completed", "failed", "running", "queued"];
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test.before(async () => {
  web = await webStart({ databaseUrl: await dbUrl() });
  await web.pool.query(
    `INSERT INTO waymark.workflow_versions (workflow_name, ir_hash, ir) VALUES ('Alpha', 'a', '{"format":1,"name":"Alpha","fns":[]}'), ('Beta', 'b', '{"format":1,"name":"Beta","fns":[]}')`,
  );
  // 130 instances; every 10 share one created_at to the microsecond (keyset ties broken by id).
  await web.pool.query(
    `INSERT INTO waymark.instances (id, workflow_name, version_id, status, args, created_at)
     SELECT gen_random_uuid(), CASE WHEN g % 3 = 0 THEN 'Beta' ELSE 'Alpha' END, CASE WHEN g % 3 = 0 THEN 2 ELSE 1 END,
            ($1::text[])[1 + g % 5], '[]', timestamptz '2026-01-01 00:00:00.123456+00' + (g / 10) * interval '1 minute 0.000001 second'
       FROM generate_series(0, 129) g`,
    [STATUSES],
  );
});

test.after.always(async () => {
  await web?.stop();
});

async function walk(query: string, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const { body }: { body: Json } = await getJson<Json>(`${web.url}/api/instances?limit=${limit}${query}${cursor ? `&before=${cursor}` : ""}`);
    seen.push(...body.instances.map((r: Json) => r.id));
    cursor = body.older;
    if (!cursor) return seen;
  }
  throw new Error("too many pages");
}

test("keyset pages walk every instance once, newest first, across equal timestamps", async (t) => {
  const ids = await walk("", 7);
  t.is(ids.length, 130);
  t.is(new Set(ids).size, 130);
  const { rows } = await web.pool.query(`SELECT id::text FROM waymark.instances ORDER BY created_at DESC, id DESC`);
  t.deepEqual(
    ids,
    rows.map((r) => r.id),
  );
});

test("newer pages lead back to the first page", async (t) => {
  const first = (await getJson<Json>(`${web.url}/api/instances?limit=10`)).body;
  t.is(first.newer, null);
  const second = (await getJson<Json>(`${web.url}/api/instances?limit=10&before=${first.older}`)).body;
  t.truthy(second.newer);
  const back = (await getJson<Json>(`${web.url}/api/instances?limit=10&after=${second.newer}`)).body;
  t.deepEqual(
    back.instances.map((r: Json) => r.id),
    first.instances.map((r: Json) => r.id),
  );
  t.truthy(back.older);
});

test("filters: workflow, status, time range, id prefix; counts per status under the filter", async (t) => {
  t.is((await walk("&workflow=Beta", 50)).length, 44);
  t.is((await walk("&status=failed", 50)).length, 26);
  t.is((await walk("&workflow=Alpha&status=running", 50)).length, 17);
  // Rows 0..39 have created_at in the first four minutes.
  t.is((await walk("&to=2026-01-01T00:04:00", 50)).length, 40);
  t.is((await walk("&from=2026-01-01T00:04:00&to=2026-01-01T00:06:00Z", 50)).length, 20);
  const { rows } = await web.pool.query(`SELECT id::text FROM waymark.instances ORDER BY id LIMIT 1`);
  const prefix = rows[0].id.slice(0, 6);
  const found = await walk(`&q=${prefix}`, 50);
  t.true(found.includes(rows[0].id));
  t.true(found.every((id) => id.startsWith(prefix)));
  const { body } = await getJson<Json>(`${web.url}/api/instances?workflow=Beta`);
  t.deepEqual(body.counts, { queued: 9, running: 9, sleeping: 0, completed: 18, failed: 8, cancelled: 0 });
  t.deepEqual(body.workflows, ["Alpha", "Beta"]);
});

test("counts stop at their cap (a bounded scan)", async (t) => {
  const counts = await instanceStatusCounts(web.pool, { filter: {}, cap: 5 });
  t.deepEqual(counts, { queued: 5, running: 5, sleeping: 0, completed: 5, failed: 5, cancelled: 0 });
});

test("the page: a whole id goes to its instance; bad filters are shown, not fatal", async (t) => {
  const { rows } = await web.pool.query(`SELECT id::text FROM waymark.instances LIMIT 1`);
  const r = await call(`${web.url}/instances?q=${rows[0].id}`);
  t.is(r.status, 303);
  t.is(r.headers.get("location"), `/instances/${rows[0].id}`);
  const page = await (await call(`${web.url}/instances?status=nope&from=yesterday`)).text();
  t.regex(page, /Ignored: unknown status &quot;nope&quot;/);
  t.regex(page, /from=&quot;yesterday&quot; is not a time/);
  const list = await (await call(`${web.url}/instances?workflow=Beta&limit=5`)).text();
  t.regex(list, /data-page="older"/);
  t.notRegex(list, /data-page="newer"/);
});
