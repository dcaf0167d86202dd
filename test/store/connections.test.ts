import test from "ava";
import pg from "pg";
import { connectionLost, poolCreate, withClient } from "../../store/db.js";
import { useTestDatabase } from "../helpers/db.js";

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
