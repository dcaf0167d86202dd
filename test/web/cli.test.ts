import test from "ava";
import { execa } from "execa";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT } from "../helpers/supervise.js";
import { rawRequest } from "./server.js";

const dbUrl = useTestDatabase(test);

function env(extra: Record<string, string>): Record<string, string> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_"))) as Record<string, string>;
  return { ...inherited, ...extra };
}

/** Starts `waymark web`; resolves with its address once it says it is running. */
async function webProcess(args: string[], extra: Record<string, string>) {
  const proc = execa(process.execPath, [CLI, "web", ...args], {
    cwd: ROOT,
    env: env({ WAYMARK_DATABASE_URL: await dbUrl(), ...extra }),
    extendEnv: false,
    reject: false,
  });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`waymark web did not start:\n${out}`)), 30_000);
    proc.stderr!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /waymark web is running url=(http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void proc.then(() => reject(new Error(`waymark web exited:\n${out}`)));
  });
  return { proc, url, output: () => out };
}

test("waymark web serves the app on its own against the database, and stops on SIGTERM", async (t) => {
  const { proc, url, output } = await webProcess(["--addr", "127.0.0.1:0"], { WAYMARK_WEBAPP_TOKEN: "cli-token-long-enough-to-pass" });
  t.is((await fetch(`${url}/healthz`)).status, 401);
  const r = await fetch(`${url}/healthz`, { headers: { Authorization: "Bearer cli-token-long-enough-to-pass" } });
  t.deepEqual(await r.json(), { ok: true });
  const page = await fetch(`${url}/instances`, { headers: { Authorization: "Bearer cli-token-long-enough-to-pass" } });
  t.regex(await page.text(), /<h1>Instances<\/h1>/);
  proc.kill("SIGTERM");
  t.is((await proc).exitCode, 0, output());
  t.notRegex(output(), /WARN/);
});

test("waymark web on a non-loopback address without a token refuses to start (exit 2), saying what to do", async (t) => {
  const url = await dbUrl();
  const cli = (args: string[], extra: Record<string, string>) =>
    execa(process.execPath, [CLI, ...args], { cwd: ROOT, env: env({ WAYMARK_DATABASE_URL: url, ...extra }), extendEnv: false, reject: false });
  // Five processes, at once.
  const [refusals, sup, blank] = await Promise.all([
    Promise.all(
      (
        [
          [["--addr", "0.0.0.0:0"], {}],
          [[], { WAYMARK_WEBAPP_ADDR: "0.0.0.0:0" }],
          [["--addr", "0.0.0.0:0", "--insecure=false"], { WAYMARK_WEBAPP_INSECURE: "true" }],
        ] as Array<[string[], Record<string, string>]>
      ).map(([args, extra]) => cli(["web", ...args], extra)),
    ),
    // So does the web app of `waymark supervise`, before anything starts.
    cli(["supervise"], { WAYMARK_WEBAPP_ENABLED: "true", WAYMARK_WEBAPP_ADDR: "0.0.0.0:0" }),
    // A blank token is refused.
    cli(["web"], { WAYMARK_WEBAPP_TOKEN: "  " }),
  ]);
  for (const r of refusals) {
    t.is(r.exitCode, 2, r.stderr);
    t.regex(r.stderr, /^waymark: configuration error: the web app would serve 0\.0\.0\.0:0, a non-loopback address, without a token/);
    t.regex(r.stderr, /Set WAYMARK_WEBAPP_TOKEN .* or accept the risk with WAYMARK_WEBAPP_INSECURE=true \(`waymark web --insecure`\)/);
    t.notRegex(r.stderr, /web app listening/);
  }
  t.is(sup.exitCode, 2, sup.stderr);
  t.regex(sup.stderr, /the web app would serve 0\.0\.0\.0:0, a non-loopback address, without a token/);
  t.is(blank.exitCode, 2);
  t.regex(blank.stderr, /WAYMARK_WEBAPP_TOKEN is set but blank/);
});

test("waymark web --insecure serves a non-loopback address without a token, with a warning, answering only to allowed names", async (t) => {
  const open = await webProcess(["--addr", "0.0.0.0:0", "--insecure"], { WAYMARK_WEBAPP_ALLOWED_HOSTS: "waymark.example" });
  t.teardown(() => void open.proc.kill("SIGKILL"));
  t.regex(open.output(), /WARN .*non-loopback address without WAYMARK_WEBAPP_TOKEN \(WAYMARK_WEBAPP_INSECURE\)/);
  t.is((await fetch(`${open.url}/healthz`)).status, 200);
  const port = new URL(open.url).port;
  t.is((await rawRequest(open.url, { path: "/healthz", headers: { Host: `waymark.example:${port}` } })).status, 200);
  t.is((await rawRequest(open.url, { path: "/healthz", headers: { Host: `evil.example:${port}` } })).status, 421);
  open.proc.kill("SIGTERM");
  t.is((await open.proc).exitCode, 0, open.output());
});

test("waymark --help lists web; a bad --addr is a configuration error", async (t) => {
  const help = await execa(process.execPath, [CLI, "--help"], { cwd: ROOT, env: env({}), extendEnv: false, reject: false });
  t.regex(help.stdout, /waymark web/);
  const bad = await execa(process.execPath, [CLI, "web", "--addr", "nowhere"], {
    cwd: ROOT,
    env: env({ WAYMARK_DATABASE_URL: await dbUrl() }),
    extendEnv: false,
    reject: false,
  });
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /--addr "nowhere" is not a host:port address/);
});
