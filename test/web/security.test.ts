import test from "ava";
import { randomUUID } from "node:crypto";
import http from "node:http";
import { useTestDatabase } from "../helpers/db.js";
import { call, webStart, type TestWeb } from "./server.js";

const dbUrl = useTestDatabase(test);
const TOKEN = "s3cret-token";
let web: TestWeb;
let open: TestWeb;
let instanceId: string;

test.before(async () => {
  web = await webStart({ databaseUrl: await dbUrl(), token: TOKEN });
  open = await webStart({ databaseUrl: await dbUrl() });
  await web.pool.query(`INSERT INTO waymark.workflow_versions (workflow_name, ir_hash, ir) VALUES ('Evil', 'e', '{"format":1,"name":"Evil","fns":[]}')`);
  instanceId = randomUUID();
  await web.pool.query(
    `INSERT INTO waymark.instances (id, workflow_name, version_id, status, args, result, finished_at)
     VALUES ($1, 'Evil', 1, 'completed', $2, $3, now())`,
    [instanceId, JSON.stringify(["<img src=x onerror=alert(1)>"]), JSON.stringify({ html: "<script>alert('x')</script>", q: `"'&` })],
  );
});

test.after.always(async () => {
  await web?.stop();
  await open?.stop();
});

const auth = { Authorization: `Bearer ${TOKEN}` };

test("with a token, every route needs it (pages, API, assets, /healthz)", async (t) => {
  for (const p of ["/healthz", "/instances", `/instances/${instanceId}`, "/api/instances", "/api/schedules", "/assets/app.js", "/workers", "/versions", "/nothing"]) {
    const r = await call(`${web.url}${p}`);
    t.is(r.status, 401, p);
    t.notRegex(await r.text(), /Evil/);
  }
  t.is((await call(`${web.url}/healthz`, { headers: { Authorization: "Bearer wrong" } })).status, 401);
  t.is((await call(`${web.url}/healthz`, { headers: auth })).status, 200);
  t.is((await call(`${web.url}/api/instances/${instanceId}/cancel`, { method: "POST" })).status, 401);
});

test("?token= sets an HttpOnly SameSite cookie and leaves the address bar; the cookie then works", async (t) => {
  const r = await call(`${web.url}/instances?status=completed&token=${TOKEN}`);
  t.is(r.status, 303);
  t.is(r.headers.get("location"), "/instances?status=completed");
  const cookie = r.headers.get("set-cookie") ?? "";
  t.regex(cookie, /^waymark_token=s3cret-token;/);
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Strict/);
  const page = await call(`${web.url}/instances`, { headers: { Cookie: cookie.split(";")[0]! } });
  t.is(page.status, 200);
  t.regex(await page.text(), /Evil/);
  t.is((await call(`${web.url}/instances?token=wrong`)).status, 401);
});

test("mutations refuse cross-site requests, even with the token", async (t) => {
  const url = `${web.url}/api/instances/${randomUUID()}/cancel`;
  const host = new URL(web.url).host;
  const cross = await call(url, { method: "POST", headers: { ...auth, "Sec-Fetch-Site": "cross-site" } });
  t.is(cross.status, 403);
  t.is((await call(url, { method: "POST", headers: { ...auth, Origin: "https://evil.example" } })).status, 403);
  t.is((await call(url, { method: "POST", headers: { ...auth, Origin: "null" } })).status, 403);
  // Same-origin (as a browser form sends it) gets through to the handler: 404, no such instance.
  t.is((await call(url, { method: "POST", headers: { ...auth, Origin: `http://${host}`, "Sec-Fetch-Site": "same-origin" } })).status, 404);
  // GET never mutates.
  t.is((await call(url, { headers: auth })).status, 405);
});

/** fetch() sets Host itself: node:http lets the test claim another name. */
function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Host: host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
  });
}

test("without a token, only requests addressed to this server (DNS rebinding)", async (t) => {
  const port = new URL(open.url).port;
  t.is(await statusWithHost(`${open.url}/healthz`, `127.0.0.1:${port}`), 200);
  t.is(await statusWithHost(`${open.url}/healthz`, `evil.example:${port}`), 403);
  t.is(await statusWithHost(`${open.url}/healthz`, `localhost:${port}`), 200);
});

test("every response carries a strict CSP; values are escaped, never markup", async (t) => {
  const r = await call(`${open.url}/instances/${instanceId}`);
  t.is(r.status, 200);
  const csp = r.headers.get("content-security-policy") ?? "";
  t.regex(csp, /script-src 'self'/);
  t.regex(csp, /default-src 'none'/);
  t.is(r.headers.get("x-content-type-options"), "nosniff");
  const body = await r.text();
  t.notRegex(body, /<script>alert/);
  t.notRegex(body, /<img src=x/);
  t.regex(body, /&lt;script&gt;alert\(&#39;x&#39;\)&lt;\/script&gt;/);
  t.regex(body, /&lt;img src=x onerror=alert\(1\)&gt;/);
  // The only script is the app's own file.
  t.deepEqual(body.match(/<script[^>]*>/g), ['<script src="/assets/app.js" defer>']);
});

test("a non-loopback address without a token logs a warning at start-up", async (t) => {
  const exposed = await webStart({ databaseUrl: await dbUrl(), addr: "0.0.0.0:0" });
  await exposed.stop();
  t.true(exposed.logs.some((l) => /WARN/.test(l) && /non-loopback address without WAYMARK_WEBAPP_TOKEN/.test(l)), exposed.logs.join("\n"));
  t.false(web.logs.some((l) => /non-loopback/.test(l)));
  const guarded = await webStart({ databaseUrl: await dbUrl(), addr: "0.0.0.0:0", token: "t" });
  await guarded.stop();
  t.false(guarded.logs.some((l) => /non-loopback/.test(l)));
});
