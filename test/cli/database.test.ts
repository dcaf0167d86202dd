import test from "ava";
import { execa } from "execa";
import { useTestDatabase } from "../helpers/db.js";
import { CLI, ROOT } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);

/** A password with every character that used to leak: a raw @ and :, and a / (percent-encoded, as a URL needs). */
const PASSWORD = "wr%40ng%3Ap%2Fss";
const SECRETS = [PASSWORD, "wr@ng", "p/ss", "wr%40ng"];

function waymark(args: string[], databaseUrl: string) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  return execa(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...inherited, WAYMARK_DATABASE_URL: databaseUrl, WAYMARK_WORKER_COUNT: "1", WAYMARK_USER_MODULE: "test/fixtures/workflows/basic.ts" },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
}

/** The test database's URL, changed (its password replaced by PASSWORD unless `realPassword`), and how a message should show it. */
async function unreachable(change: (u: URL) => void, o: { realPassword?: boolean } = {}): Promise<{ url: string; shown: string; secrets: string[] }> {
  const u = new URL(await dbUrl());
  const real = u.password;
  if (!o.realPassword) u.password = PASSWORD;
  change(u);
  const url = u.toString();
  return { url, shown: `WAYMARK_DATABASE_URL=${url.replace(`:${u.password}@`, ":***@")}`, secrets: [...SECRETS, real] };
}

/** One line on stderr that names the database and the cause: no stack, no password, exit 1. */
async function check(t: import("ava").ExecutionContext, args: string[], target: { url: string; shown: string; secrets: string[] }, cause: RegExp) {
  const r = await waymark(args, target.url);
  const what = `waymark ${args.join(" ")}`;
  t.is(r.exitCode, 1, `${what}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  const last = lines.at(-1)!;
  t.true(last.startsWith(`waymark: cannot connect to the database (${target.shown}): `), `${what}: ${last}`);
  t.regex(last, cause, what);
  t.notRegex(r.stderr, /^\s+at /m, `${what} printed a stack: ${r.stderr}`);
  t.is(lines.filter((l) => l.startsWith("waymark:")).length, 1, `${what}: ${r.stderr}`);
  for (const secret of target.secrets) t.false(r.stderr.includes(secret) || r.stdout.includes(secret), `${what} shows the password: ${r.stderr}`);
}

test("nothing listens at WAYMARK_DATABASE_URL: every command says so in one line (the URL, its password hidden, and ECONNREFUSED) and exits 1", async (t) => {
  const target = await unreachable((u) => (u.port = "1"));
  const cause = /connection refused at 127\.0\.0\.1:1 \(ECONNREFUSED\)/;
  for (const args of [
    ["supervise"],
    ["migrate"],
    ["status"],
    ["instances", "list"],
    ["schedules", "list"],
    ["run", "test/fixtures/workflows/basic.ts", "GreetWorkflow", "--args", '["x"]'],
    ["web"],
  ]) {
    await check(t, args, target, cause);
  }
});

test("an unknown host, a wrong password, a database that does not exist: supervise and migrate name the cause in one line", async (t) => {
  const cases: Array<[(u: URL) => void, RegExp, boolean]> = [
    [(u) => (u.hostname = "no-such-host.invalid"), /unknown host no-such-host\.invalid \((ENOTFOUND|EAI_AGAIN)\)$/, false],
    [() => undefined, /authentication failed: password authentication failed for user "\w+" \(28P01\)$/, false],
    [(u) => (u.pathname = "/no_such_database"), /database "no_such_database" does not exist \(3D000\)$/, true],
  ];
  for (const [change, cause, realPassword] of cases) {
    const target = await unreachable(change, { realPassword });
    for (const args of [["supervise"], ["migrate"]]) await check(t, args, target, cause);
  }
});
