import test from "ava";
import { randomUUID } from "node:crypto";
import { ConfigError } from "../../config/env.js";
import { safeRedirect } from "../../web/security.js";
import { useTestDatabase } from "../helpers/db.js";
import { call, rawRequest, webStart, type TestWeb } from "./server.js";

const dbUrl = useTestDatabase(test);
const TOKEN = "s3cret-token-of-24-chars";
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
  for (const p of [
    "/healthz",
    "/instances",
    `/instances/${instanceId}`,
    "/api/instances",
    "/api/schedules",
    "/assets/app.js",
    "/workers",
    "/versions",
    "/nothing",
  ]) {
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
  t.regex(cookie, /^waymark_token=s3cret-token-of-24-chars;/);
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

async function statusWithHost(url: string, host: string): Promise<number> {
  return (await rawRequest(url, { path: "/healthz", headers: { Host: host } })).status;
}

test("without a token, only requests addressed to this server (DNS rebinding): another name is 421 with a message", async (t) => {
  const port = new URL(open.url).port;
  t.is(await statusWithHost(open.url, `127.0.0.1:${port}`), 200);
  t.is(await statusWithHost(open.url, `localhost:${port}`), 200);
  t.is(await statusWithHost(open.url, `LOCALHOST.:${port}`), 200);
  const evil = await rawRequest(open.url, { path: "/api/instances", headers: { Host: `evil.example:${port}` } });
  t.is(evil.status, 421);
  t.regex(JSON.parse(evil.body).error, /does not answer to the name "evil\.example".*WAYMARK_WEBAPP_ALLOWED_HOSTS/);
  t.notRegex(evil.body, /Evil/);
});

test("a non-loopback bind keeps the Host check: loopback names, its own address and WAYMARK_WEBAPP_ALLOWED_HOSTS only", async (t) => {
  const exposed = await webStart({ databaseUrl: await dbUrl(), addr: "0.0.0.0:0", insecure: true, allowedHosts: ["waymark.example", "10.9.8.7"] });
  t.teardown(() => exposed.stop());
  const port = new URL(exposed.url).port;
  for (const ok of ["waymark.example", "WayMark.Example", "10.9.8.7", "127.0.0.1", "localhost", "[::1]"])
    t.is(await statusWithHost(exposed.url, `${ok}:${port}`), 200, ok);
  for (const bad of ["evil.example", "waymark.example.evil.example", "10.9.8.6", ""]) t.is(await statusWithHost(exposed.url, `${bad}:${port}`), 421, bad);
  // Bound to one address, that address is allowed as well.
  const bound = await webStart({ databaseUrl: await dbUrl(), addr: "127.0.0.2:0", allowedHosts: ["waymark.example"] });
  t.teardown(() => bound.stop());
  t.is(await statusWithHost(bound.url, `127.0.0.2:${new URL(bound.url).port}`), 200);
  t.is(await statusWithHost(bound.url, `waymark.example:${new URL(bound.url).port}`), 200);
  t.is(await statusWithHost(bound.url, `evil.example:${new URL(bound.url).port}`), 421);
});

test("with a token, the token guards any name; WAYMARK_WEBAPP_ALLOWED_HOSTS adds the Host check", async (t) => {
  const port = new URL(web.url).port;
  const anyName = await rawRequest(web.url, { path: "/healthz", headers: { Host: `waymark.example:${port}`, ...auth } });
  t.is(anyName.status, 200);
  const listed = await webStart({ databaseUrl: await dbUrl(), token: TOKEN, allowedHosts: ["waymark.example"] });
  t.teardown(() => listed.stop());
  const p = new URL(listed.url).port;
  t.is((await rawRequest(listed.url, { path: "/healthz", headers: { Host: `waymark.example:${p}`, ...auth } })).status, 200);
  t.is((await rawRequest(listed.url, { path: "/healthz", headers: { Host: `evil.example:${p}`, ...auth } })).status, 421);
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

test("a non-loopback address without a token refuses to start, saying how to set a token or accept the risk", async (t) => {
  const e = await t.throwsAsync(webStart({ databaseUrl: await dbUrl(), addr: "0.0.0.0:0" }), { instanceOf: ConfigError });
  t.regex(e!.message, /0\.0\.0\.0:0, a non-loopback address, without a token/);
  t.regex(e!.message, /Set WAYMARK_WEBAPP_TOKEN/);
  t.regex(e!.message, /WAYMARK_WEBAPP_INSECURE=true \(`waymark web --insecure`\)/);
  // Accepting the risk starts it, with a warning.
  const exposed = await webStart({ databaseUrl: await dbUrl(), addr: "0.0.0.0:0", insecure: true });
  const r = await call(`${exposed.url}/healthz`);
  await exposed.stop();
  t.is(r.status, 200);
  t.true(
    exposed.logs.some((l) => /WARN/.test(l) && /non-loopback address without WAYMARK_WEBAPP_TOKEN \(WAYMARK_WEBAPP_INSECURE\)/.test(l)),
    exposed.logs.join("\n"),
  );
  // With a token it starts quietly; loopback needs neither.
  const guarded = await webStart({ databaseUrl: await dbUrl(), addr: "0.0.0.0:0", token: TOKEN });
  await guarded.stop();
  t.false(
    guarded.logs.some((l) => /WARN/.test(l)),
    guarded.logs.join("\n"),
  );
  t.false(open.logs.some((l) => /WARN/.test(l)));
});

test("a blank token is an error at start-up; a short one a warning", async (t) => {
  await t.throwsAsync(webStart({ databaseUrl: await dbUrl(), token: " \t " }), { instanceOf: ConfigError, message: /WAYMARK_WEBAPP_TOKEN is set but blank/ });
  const short = await webStart({ databaseUrl: await dbUrl(), token: "short" });
  await short.stop();
  t.true(
    short.logs.some((l) => /WARN/.test(l) && /WAYMARK_WEBAPP_TOKEN is only 5 characters long: use at least 16/.test(l)),
    short.logs.join("\n"),
  );
  t.false(web.logs.some((l) => /characters long/.test(l)));
});

/** Where a redirect may go: [given, where it goes]. */
const REDIRECTS: Array<[string, string]> = [
  ["/instances", "/instances"],
  ["/instances/0190a8e2-7c1d-7b3e-9f10-2a4b6c8d0e1f?x=1&y=%2F#top", "/instances/0190a8e2-7c1d-7b3e-9f10-2a4b6c8d0e1f?x=1&y=%2F#top"],
  ["/%2F%2Fevil.example", "/%2F%2Fevil.example"],
  ["/", "/"],
  ["//evil.example/", "/"],
  ["///evil.example", "/"],
  ["/\\evil.example", "/"],
  ["\\\\evil.example", "/"],
  ["/\t/evil.example", "/"],
  ["/\n/evil.example", "/"],
  ["/\r\nSet-Cookie: x=1", "/"],
  ["/\0", "/"],
  ["/\x7f", "/"],
  ["/a b", "/"],
  ["/a\\..\\\\evil.example", "/"],
  [" /instances", "/"],
  ["https://evil.example/", "/"],
  ["http:/evil.example", "/"],
  ["javascript:alert(1)", "/"],
  ["data:text/html,x", "/"],
  ["evil.example", "/"],
  ["", "/"],
  ["/é", "/"],
  ["/" + "a".repeat(5000), "/"],
];

test("safeRedirect: only same-origin paths, anything else is /", (t) => {
  for (const [given, to] of REDIRECTS) t.is(safeRedirect(given), to, JSON.stringify(given));
  t.is(safeRedirect(null), "/");
  t.is(safeRedirect(undefined), "/");
});

test("a form's next field redirects only to a path on this server", async (t) => {
  // Cancelling a finished instance changes nothing and answers with the redirect every time.
  for (const [next, to] of REDIRECTS) {
    const r = await call(`${open.url}/api/instances/${instanceId}/cancel`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ next }).toString(),
    });
    t.is(r.status, 303, JSON.stringify(next));
    t.is(r.headers.get("location"), to, JSON.stringify(next));
  }
});

test("after a login with ?token=, the redirect goes only to a path on this server", async (t) => {
  const cases: Array<[string, string]> = [
    [`/instances?status=completed&token=${TOKEN}`, "/instances?status=completed"],
    [`/instances/${instanceId}?token=${TOKEN}`, `/instances/${instanceId}`],
    [`//evil.example/?token=${TOKEN}`, "/"],
    [`//evil.example/instances?token=${TOKEN}`, "/"],
    [`/\\evil.example/?token=${TOKEN}`, "/"],
    [`/%09/evil.example?token=${TOKEN}`, "/%09/evil.example"],
    [`/?token=${TOKEN}&next=//evil.example`, "/?next=%2F%2Fevil.example"],
  ];
  for (const [path, to] of cases) {
    const r = await rawRequest(web.url, { path });
    t.is(r.status, 303, path);
    t.is(r.headers.location, to, path);
    t.regex(String(r.headers["set-cookie"]), /^waymark_token=/);
  }
});
