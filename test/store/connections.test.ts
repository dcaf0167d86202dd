import test from "ava";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import pg from "pg";
import { ROOT } from "../helpers/supervise.js";
import { connectFailed, connectFailure, connectionLost, databaseUnreachable, poolCreate, withClient } from "../../store/db.js";
import { useTestDatabase } from "../helpers/db.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);

/** Terminates `client`'s backend from another connection and waits until its socket has closed. */
async function terminate(url: string, client: pg.ClientBase): Promise<void> {
  const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
  const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
  } finally {
    await admin.end();
  }
  await ended;
}

test("a connection lost while a client is held between statements fails the next statement, not the process; the pool goes on", async (t) => {
  const url = await dbUrl();
  const pool = poolCreate({ connectionString: url, max: 1 });
  try {
    const error = await t.throwsAsync(
      withClient(pool, async (client) => {
        await client.query("BEGIN");
        await terminate(url, client); // no statement is running: the server's goodbye is an error event
        await client.query("COMMIT");
      }),
    );
    t.true(connectionLost(error), String(error));
    // The broken client was destroyed, not returned: the pool's one connection is a fresh one.
    t.deepEqual((await pool.query("SELECT 1 AS one")).rows, [{ one: 1 }]);
  } finally {
    await pool.end();
  }
});

test("connectionLost tells a lost connection from a bad statement", (t) => {
  t.true(connectionLost(Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" })));
  t.true(connectionLost(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })));
  t.true(connectionLost(new Error("Connection terminated unexpectedly")));
  t.false(connectionLost(Object.assign(new Error('relation "x" does not exist'), { code: "42P01" })));
  t.false(connectionLost(Object.assign(new Error("duplicate key value violates unique constraint"), { code: "23505" })));
});

/** The error a real connection attempt to `url` fails with. */
async function connectError(url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (e) {
    connectFailed(client);
    return e;
  }
  await client.end();
  throw new Error(`${url} accepted the connection`);
}

test("connectFailure names why a real connection attempt failed; a failed statement is not a connection failure", async (t) => {
  const url = new URL(await dbUrl());
  const at = (change: (u: URL) => void) => {
    const u = new URL(url);
    change(u);
    return u.toString();
  };
  const cases: Array<[string, string, RegExp]> = [
    ["refused", at((u) => (u.port = "1")), /^connection refused at 127\.0\.0\.1:1 \(ECONNREFUSED\)/],
    ["unknown host", at((u) => (u.hostname = "no-such-host.invalid")), /^unknown host no-such-host\.invalid \((ENOTFOUND|EAI_AGAIN)\)$/],
    ["wrong password", at((u) => (u.password = "wrong")), /^authentication failed: password authentication failed for user "\w+" \(28P01\)$/],
    ["no password", at((u) => (u.password = "")), /^authentication failed: the server asks for a password and the connection string has none$/],
    ["missing database", at((u) => (u.pathname = "/no_such_database")), /^database "no_such_database" does not exist \(3D000\)$/],
  ];
  for (const [what, target, expected] of cases) t.regex(connectFailure(await connectError(target)) ?? "(undefined)", expected, what);
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const bad = await client.query("SELECT * FROM no_such_table").catch((e: unknown) => e);
    t.is(connectFailure(bad), undefined);
    t.is(databaseUnreachable({ url: url.toString(), source: "WAYMARK_DATABASE_URL", error: bad }), undefined);
  } finally {
    await client.end();
  }
  const e = databaseUnreachable({
    url: at((u) => {
      u.port = "1";
      u.password = "s3cr%40t";
    }),
    source: "WAYMARK_DATABASE_URL",
    error: await connectError(at((u) => (u.port = "1"))),
  });
  t.is(e?.code, "WAYMARK_CONNECTION");
  t.regex(e?.message ?? "", /^cannot connect to the database \(WAYMARK_DATABASE_URL=postgres:\/\/\w+:\*\*\*@127\.0\.0\.1:1\/\w+\): connection refused/);
});

// Found by the test suite: one such connection held every DROP DATABASE on the server for 60 s.
test("a pool connect that fails for want of a password leaves no backend waiting in authentication", async (t) => {
  const url = new URL(await dbUrl());
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  t.teardown(() => admin.end());
  const started = (await admin.query<{ now: Date }>("SELECT now()")).rows[0]!.now;
  const authenticating = async () =>
    (
      await admin.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'starting' AND usename IS NULL AND backend_start >= $1",
        [started],
      )
    ).rows[0]!.n;
  url.password = "";
  // A process of its own that keeps running after its pool's connect failed, as an app would.
  const app = execa(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const { poolCreate } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, "dist/store/db.js")).href)});
       const pool = poolCreate({ connectionString: ${JSON.stringify(url.toString())} });
       await pool.query("SELECT 1").catch((e) => console.log(e.message));
       setTimeout(() => undefined, 60_000);`,
    ],
    { reject: false },
  );
  t.teardown(() => void app.kill("SIGKILL"));
  await new Promise<void>((resolve) => app.stdout!.once("data", () => resolve()));
  // Left open, the server keeps it for its authentication_timeout (60 s).
  t.is(await until("no backend left in authentication", async () => (await authenticating()) === 0 && 0, 5000), 0);
});
