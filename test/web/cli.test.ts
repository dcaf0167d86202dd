import test from "ava";
import { execa } from "execa";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);

function env(extra: Record<string, string>): Record<string, string> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_"))) as Record<string, string>;
  return { ...inherited, ...extra };
}

test("waymark web serves the app on its own against the database, and stops on SIGTERM", async (t) => {
  const proc = execa(process.execPath, [CLI, "web", "--addr", "127.0.0.1:0"], {
    cwd: ROOT,
    env: env({ WAYMARK_DATABASE_URL: await dbUrl(), WAYMARK_WEBAPP_TOKEN: "cli-token" }),
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
  t.is((await fetch(`${url}/healthz`)).status, 401);
  const r = await fetch(`${url}/healthz`, { headers: { Authorization: "Bearer cli-token" } });
  t.deepEqual(await r.json(), { ok: true });
  const page = await fetch(`${url}/instances`, { headers: { Authorization: "Bearer cli-token" } });
  t.regex(await page.text(), /<h1>Instances<\/h1>/);
  proc.kill("SIGTERM");
  t.is((await proc).exitCode, 0, out);
});

test("waymark --help lists web; a bad --addr is a configuration error", async (t) => {
  const help = await execa(process.execPath, [CLI, "--help"], { cwd: ROOT, env: env({}), extendEnv: false, reject: false });
  t.regex(help.stdout, /waymark web/);
  const bad = await execa(process.execPath, [CLI, "web", "--addr", "nowhere"], { cwd: ROOT, env: env({ WAYMARK_DATABASE_URL: await dbUrl() }), extendEnv: false, reject: false });
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /--addr "nowhere" is not a host:port address/);
});
