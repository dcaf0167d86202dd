import pg from "pg";
import test from "ava";
import { close, WorkflowCancelledError, WorkflowHandle } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { ownServer } from "../helpers/server.js";
import { query } from "../helpers/status.js";
import { supervise } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);

async function completed(url: string): Promise<number> {
  return (await query(url, "SELECT count(*)::int AS n FROM waymark.instances WHERE status = 'completed'"))[0].n;
}

test.serial("pg_terminate_backend of every waymark connection mid-run: the supervisor reconnects and every instance completes", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const sup = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"] });
  try {
    const { FiveSteps } = await import("../fixtures/workflows/pool.js");
    const ids = await FiveSteps.startMany(Array.from({ length: 100 }, (_, i) => [i, 30]));
    await until("10 completed instances", async () => (await completed(url)) >= 10);
    const killed = await query(
      url,
      "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name LIKE 'waymark%' AND pid <> pg_backend_pid() AND datname = current_database()",
    );
    t.true(killed[0].n >= 2, `terminated ${killed[0].n} connections`);
    const values = await sup.alive(Promise.all(ids.map((id) => new WorkflowHandle<number>(id, "FiveSteps").result())));
    t.deepEqual(
      values,
      Array.from({ length: 100 }, (_, i) => i + 5),
    );
    await sup.waitFor(/LISTEN connection restored/);
    // Still running: a new instance after the fault completes too.
    t.is(await sup.alive(new FiveSteps().run(1000, 0)), 1005);
  } finally {
    await close();
    t.is(await sup.stop(), 0);
  }
});

/**
 * Holds every statement on waymark.instances behind a lock, terminates the SDK's backend while
 * its statement waits there, then lets go: the call must be answered on a fresh connection.
 */
async function terminateMidStatement<T>(url: string, call: () => Promise<T>): Promise<{ value: T; terminated: number }> {
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  try {
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE waymark.instances IN ACCESS EXCLUSIVE MODE");
    const pending = call();
    pending.catch(() => undefined);
    const terminated = await until(
      "the SDK's statement waiting on the lock",
      async () => {
        const { rows } = await locker.query(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'waymark-sdk' AND wait_event_type = 'Lock' AND datname = current_database()",
        );
        return rows[0].n || undefined;
      },
      20_000,
      10,
    );
    await locker.query("COMMIT");
    return { value: await pending, terminated };
  } finally {
    await locker.end();
  }
}

test.serial(
  "a statement whose connection is terminated mid-query is asked again: start, startMany, status, cancel and result answer, queueing nothing twice",
  async (t) => {
    const url = await dbUrl();
    process.env.WAYMARK_DATABASE_URL = url;
    await close();
    try {
      const { FiveSteps } = await import("../fixtures/workflows/pool.js");
      await new FiveSteps().start([0, 0]); // registers the version and migrates outside the lock
      const started = await terminateMidStatement(url, () => new FiveSteps().start([1, 0])); // no supervisor: it stays queued
      t.is(started.terminated, 1);
      const handle = started.value;
      const many = await terminateMidStatement(url, () =>
        FiveSteps.startMany([
          [2, 0],
          [3, 0],
        ]),
      );
      t.is(many.terminated, 1);
      const rows = await query(url, "SELECT count(*)::int AS n FROM waymark.instances WHERE id = ANY($1::uuid[])", [[handle.instanceId, ...many.value]]);
      t.is(rows[0].n, 3, "each instance queued once");
      const status = await terminateMidStatement(url, () => handle.status());
      t.is(status.terminated, 1);
      t.is(status.value, "queued");
      const cancelled = await terminateMidStatement(url, () => handle.cancel());
      t.is(cancelled.terminated, 1);
      const outcome = await terminateMidStatement(url, () =>
        handle.result().then(
          () => "completed",
          (e: unknown) => e,
        ),
      );
      t.is(outcome.terminated, 1);
      t.true(outcome.value instanceof WorkflowCancelledError, String(outcome.value));
    } finally {
      await close();
    }
  },
);

test.serial(
  "a Postgres restart mid-run: the supervisor and its LISTEN connection reconnect with backoff, nothing is lost, and supervise keeps running",
  async (t) => {
    const server = await ownServer("waymark-restart-");
    const url = server.url;
    const sup = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"] });
    try {
      const { FiveSteps } = await import("../fixtures/workflows/pool.js");
      const ids = await FiveSteps.startMany(Array.from({ length: 60 }, (_, i) => [i, 40]));
      await until("5 completed instances", async () => (await completed(url)) >= 5);
      await close();
      await server.stop();
      t.is(await server.restart(), url, "the server came back on the same address");
      const values = await sup.alive(Promise.all(ids.map((id) => new WorkflowHandle<number>(id, "FiveSteps").result())));
      t.deepEqual(
        values,
        Array.from({ length: 60 }, (_, i) => i + 5),
      );
      t.is(await sup.alive(new FiveSteps().run(7, 0)), 12);
      t.regex(sup.output(), /(persisting instance state failed|claiming instances failed|LISTEN connection lost)/);
    } finally {
      await close();
      t.is(await sup.stop(), 0);
      await server.remove();
    }
  },
);

test.serial("stopping while Postgres is down: supervise gives up writing after the grace period instead of hanging, and nothing is lost", async (t) => {
  const server = await ownServer("waymark-down-");
  const url = server.url;
  const env = {
    WAYMARK_SHUTDOWN_GRACE_MS: "3000",
    WAYMARK_LOCK_TTL_MS: "2000",
    WAYMARK_LOCK_HEARTBEAT_MS: "500",
    WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "500",
  };
  let sup = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env });
  try {
    const { FiveSteps } = await import("../fixtures/workflows/pool.js");
    // Steps of 600 ms: when the server goes, every instance has steps left and one in flight.
    const ids = await FiveSteps.startMany(Array.from({ length: 20 }, (_, i) => [i, 600]));
    await until(
      "a completed attempt",
      async () => (await query(url, "SELECT count(*)::int AS n FROM waymark.action_attempts WHERE status = 'completed'"))[0].n >= 1,
    );
    await close();
    await server.stop();
    // The steps in flight finish within the grace period, but their results cannot be written.
    t.is(await sup.stop(), 0);
    t.regex(sup.output(), /could not write every instance back before stopping/);
    await server.restart();
    sup = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env });
    const values = await sup.alive(Promise.all(ids.map((id) => new WorkflowHandle<number>(id, "FiveSteps").result())));
    t.deepEqual(
      values,
      Array.from({ length: 20 }, (_, i) => i + 5),
    );
  } finally {
    await close();
    t.is(await sup.stop(), 0);
    await server.remove();
  }
});

// Found by the chaos soak (npm run chaos -- --seed 27452251 --duration 150 --instances 600
// --child-kills 8 --supervisor-kills 5 --terminates 4 --postgres-crashes 2): a connection lost while
// a supervisor read the workflow version of an instance it had just claimed failed the instance for good.
test.serial(
  "a connection lost while a supervisor reads a claimed instance's workflow version puts the instance back in the queue instead of failing it",
  async (t) => {
    const url = await dbUrl();
    process.env.WAYMARK_DATABASE_URL = url;
    await close();
    const sup = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"] });
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      // A workflow no other test here runs (instances queued by those would fill the version cache
      // first). Registered and queued now, runnable in 1 s: by then its version's table is locked,
      // so the supervisor's first read of that version (its cache is empty) waits on the lock.
      const { PidFanOut } = await import("../fixtures/workflows/pool.js");
      const handle = await new PidFanOut().start([2], { delayMs: 1000 });
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE waymark.workflow_versions IN ACCESS EXCLUSIVE MODE");
      const terminated = await until(
        "the supervisor's read of the version waiting on the lock",
        async () => {
          const { rows } = await locker.query(
            // pg_locks, not pg_stat_activity.query: a statement waiting on a lock while it is parsed
            // still shows the previous statement's text.
            `SELECT count(pg_terminate_backend(a.pid))::int AS n FROM pg_stat_activity a
          WHERE a.application_name = 'waymark-supervise' AND a.datname = current_database()
            AND a.pid IN (SELECT pid FROM pg_locks WHERE relation = 'waymark.workflow_versions'::regclass AND NOT granted)`,
          );
          return rows[0].n || undefined;
        },
        20_000,
        20,
      );
      t.is(terminated, 1, "the supervisor's read of the version was waiting on the lock");
      await locker.query("COMMIT");
      t.is((await sup.alive(handle.result())).length, 2);
    } finally {
      await locker.end().catch(() => undefined);
      await close();
      await sup.stop();
    }
  },
);
