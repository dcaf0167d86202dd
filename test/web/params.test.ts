import test from "ava";
import { randomUUID } from "node:crypto";
import { useTestDatabase } from "../helpers/db.js";
import { rawRequest, webStart, type TestWeb } from "./server.js";

/**
 * Every route and every parameter, given malformed values: each answers 400 or 404 with a
 * message, never 500 (and never a database error in the log).
 */
const dbUrl = useTestDatabase(test);
let web: TestWeb;
const UUID = randomUUID();
const LONG = "x".repeat(5000);

test.before(async () => {
  web = await webStart({ databaseUrl: await dbUrl() });
  await web.pool.query(`INSERT INTO waymark.workflow_versions (workflow_name, ir_hash, ir) VALUES ('Params', 'p', '{"format":1,"name":"Params","fns":[]}')`);
  await web.pool.query(
    `INSERT INTO waymark.instances (id, workflow_name, version_id, status, args, result, finished_at) VALUES ($1, 'Params', 1, 'completed', '[]', '1', now())`,
    [UUID],
  );
});

test.after.always(async () => {
  await web?.stop();
});

/** Malformed ids and names, as path segments (percent-encoded where they must be). */
const BAD_SEGMENTS: Array<[string, 400 | 404]> = [
  ["not-a-uuid", 404],
  ["%00", 400],
  [`${UUID}%00`, 400],
  ["a%00b", 400],
  ["%E0%A4%A", 400],
  ["%ED%A0%80", 400], // a lone surrogate
  ["%", 400],
  ["%zz", 400],
  ["9999999999999999999", 404],
  ["99999999999999999999", 404],
  ["-1", 404],
  ["1.5", 404],
  ["0x10", 404],
  [UUID.replace(/-/g, ""), 404],
  [`${UUID}x`, 404],
  ["%2e%2e%2f%2e%2e%2fetc", 404],
  [LONG, 404],
];

/** Malformed list parameters, for /instances and /api/instances (all 400). */
const BAD_LIST_PARAMS: Array<[string, string]> = [
  ["limit", "1.5"],
  ["limit", "-1"],
  ["limit", "abc"],
  ["limit", "0"],
  ["limit", "501"],
  ["limit", "1e2"],
  ["limit", "0x10"],
  ["limit", "99999999999999999999"],
  ["limit", "9".repeat(400)],
  ["limit", "%00"],
  ["before", "1_abc"],
  ["before", `9999999999999999999_${UUID}`],
  ["before", `99999999999999999999_${UUID}`],
  ["before", `253402300800000000_${UUID}`],
  ["before", `-1_${UUID}`],
  ["before", UUID],
  ["before", `1_${UUID}%00`],
  ["after", `9999999999999999999_${UUID}`],
  ["after", "garbage"],
  ["after", LONG],
  ["from", "99999-01-01"],
  ["from", "%2B099999-01-01T00:00Z"],
  ["from", "2024-13-45"],
  ["from", "2024-02-30"],
  ["from", "2023-02-29"],
  ["from", "0000-01-01"],
  ["from", "2024-01-01T25:00"],
  ["from", "2024-01-01T00:00%2B25:00"],
  ["from", "2024-01-01T00:00-05:99"],
  ["from", "yesterday"],
  ["to", "9999-12-31T23:59:59-18:00"],
  ["to", "%00"],
  ["to", LONG],
  ["status", "bogus"],
  ["status", "%00"],
  ["workflow", "%00"],
  ["workflow", "Params%00"],
  ["workflow", LONG],
  ["workflow", "%E0%A4%A"],
  ["q", "%00"],
  ["q", "zz"],
  ["q", "0".repeat(40)],
  ["q", "%ED%A0%80"],
];

type Case = { method: "GET" | "POST"; path: string; expect: 400 | 404 };

function cases(): Case[] {
  const out: Case[] = [];
  for (const [seg, expect] of BAD_SEGMENTS) {
    for (const path of [`/instances/${seg}`, `/api/instances/${seg}`, `/api/instances/${seg}/events`]) out.push({ method: "GET", path, expect });
    for (const path of [`/api/instances/${seg}/cancel`, `/api/instances/${seg}/requeue`]) out.push({ method: "POST", path, expect });
    for (const path of [`/versions/${seg}`, `/api/versions/${seg}`]) out.push({ method: "GET", path, expect });
    out.push({ method: "POST", path: `/api/schedules/${seg}/nightly/pause`, expect });
    out.push({ method: "POST", path: `/api/schedules/Params/${seg}/resume`, expect });
    out.push({ method: "POST", path: `/api/schedules/Params/nightly/${seg}`, expect: 404 });
  }
  for (const id of ["0", "999999999999999", "9999999999999999", "1%00"]) {
    for (const path of [`/versions/${id}`, `/api/versions/${id}`]) out.push({ method: "GET", path, expect: id.includes("%00") ? 400 : 404 });
  }
  for (const [k, v] of BAD_LIST_PARAMS) {
    for (const path of [`/instances?${k}=${v}`, `/api/instances?${k}=${v}`, `/api/instances?status=completed&${k}=${v}`])
      out.push({ method: "GET", path, expect: 400 });
  }
  // A query string that does not decode, on any route; paths that are not paths.
  for (const path of ["/healthz?x=%E0%A4%A", "/schedules?%", "/api/workers?a=%ED%A0%80", "/instances?workflow=%E0%A4%A"])
    out.push({ method: "GET", path, expect: 400 });
  for (const path of ["/nothing%00", "/instances/", "/instances//x", "/api/instances/%00/nothing", `/api/instances/${UUID}/events/x/y`]) {
    out.push({ method: "GET", path, expect: 404 });
  }
  for (const path of ["*", "http://example.com/instances"]) out.push({ method: "GET", path, expect: 400 });
  return out;
}

test("malformed paths and parameters answer 400 or 404 with a message, never 500", async (t) => {
  const all = cases();
  t.true(all.length > 300, `${all.length} cases`);
  for (const c of all) {
    for (const accept of ["application/json", "text/html"]) {
      const what = `${c.method} ${c.path.length > 120 ? `${c.path.slice(0, 120)}…` : c.path} (${accept})`;
      const r = await rawRequest(web.url, { method: c.method, path: c.path, headers: { Accept: accept } });
      t.is(r.status, c.expect, what);
      const html = (r.headers["content-type"] ?? "").startsWith("text/html");
      // JSON says why in `error`; a page in its notice.
      const message = html ? (/class="notice warn">(.*?)<\/(?:p|div)>/s.exec(r.body)?.[1] ?? "") : String(JSON.parse(r.body || "{}").error ?? "");
      t.true(message.length > 5, `${what}: no message in ${r.body.slice(0, 200)}`);
    }
  }
  t.deepEqual(
    web.logs.filter((l) => /ERROR/.test(l)),
    [],
  );
});

test("the instances page answers 400 for what it ignored, and still shows the list", async (t) => {
  const r = await rawRequest(web.url, { path: "/instances?limit=1.5&from=2024-13-45", headers: { Accept: "text/html" } });
  t.is(r.status, 400);
  t.regex(r.body, /Ignored: limit=&quot;1\.5&quot; is not a whole number from 1 to 500/);
  t.regex(r.body, /Ignored: from=&quot;2024-13-45&quot; is not a time/);
  t.regex(r.body, new RegExp(UUID));
  const api = await rawRequest(web.url, { path: "/api/instances?before=9999999999999999999_" + UUID });
  t.is(api.status, 400);
  t.regex(JSON.parse(api.body).error, /before=".*" is not a page cursor/);
});

test("good values still work: times with zones and fractions, limits at the edges, a whole cursor", async (t) => {
  for (const q of [
    "limit=1",
    "limit=500",
    "limit=%20%2050%20",
    "from=2024-02-29",
    "from=0001-01-01",
    "to=9999-12-31T23:59:59.999Z",
    "from=2024-01-01T00:00:00.5%2B02:00",
    "to=2024-01-01%2010:00",
  ]) {
    const r = await rawRequest(web.url, { path: `/api/instances?${q}` });
    t.is(r.status, 200, `${q}: ${r.body.slice(0, 200)}`);
  }
  const first = JSON.parse((await rawRequest(web.url, { path: "/api/instances?limit=1" })).body);
  t.is(first.instances[0].id, UUID);
  t.is((await rawRequest(web.url, { path: `/api/instances?before=${first.instances[0].cursor}` })).status, 200);
  t.is((await rawRequest(web.url, { path: `/api/instances/${UUID.toUpperCase()}` })).status, 200);
});
