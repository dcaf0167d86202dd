import pg from "pg";
import type { Metrics } from "./scenarios.js";

/**
 * What a user would pick instead, measured on the same database in the same run: graphile-worker
 * (its own perfTest shape: bulk add_jobs, then work until empty; unbatched and batched), pg-boss
 * (bulk insert, work loops of batches), and the raw ceiling of any Postgres queue here
 * (SKIP LOCKED claim of B rows + one UPDATE to complete them, partial "ready" index).
 */
/**
 * The peers' packages and the ranges the bench is written for (package.json's devDependencies).
 * An installed waymark has no devDependencies: its bench then skips the peers it cannot load.
 */
export const PEER_PACKAGES = { "graphile-worker": "^0.17", "pg-boss": "^10" } as const;
export type PeerPackage = keyof typeof PEER_PACKAGES;

/** Loads a module by name, as `import()` does (a test passes one that fails). */
export type Importer = (specifier: string) => Promise<unknown>;

/**
 * Which peer packages load here, and a line for each one that does not: "graphile-worker is not
 * installed: skipping its peer runs (npm i -D graphile-worker@^0.17 to compare)". Only the
 * package itself being absent is a skip: a package that is there but fails to load (one of its
 * own dependencies missing, an error at import) is an error, reported as such.
 */
export async function peersAvailable(importer: Importer = (s) => import(s)): Promise<{ available: Set<PeerPackage>; skipped: string[] }> {
  const available = new Set<PeerPackage>();
  const skipped: string[] = [];
  for (const pkg of Object.keys(PEER_PACKAGES) as PeerPackage[]) {
    try {
      await importer(pkg);
      available.add(pkg);
    } catch (e) {
      const { code, message } = e as { code?: unknown; message?: unknown };
      const absent = code === "ERR_MODULE_NOT_FOUND" && typeof message === "string" && message.includes(`'${pkg}'`);
      if (!absent) throw e;
      skipped.push(`${pkg} is not installed: skipping its peer runs (npm i -D ${pkg}@${PEER_PACKAGES[pkg]} to compare)`);
    }
  }
  return { available, skipped };
}

async function withPool<T>(url: string, max: number, fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

export async function graphile(url: string, jobs: number, batched: boolean): Promise<Metrics> {
  const gw = await import("graphile-worker");
  const concurrency = 10;
  return withPool(url, concurrency + 4, async (pool) => {
    const logger = new gw.Logger(() => (level: string, message: string) => {
      if (level === "error") process.stderr.write(`graphile-worker: ${message}\n`);
    });
    await gw.runMigrations({ pgPool: pool, logger });
    await pool.query("delete from graphile_worker._private_jobs");
    await pool.query("delete from graphile_worker._private_job_queues");
    await pool.query("vacuum analyze graphile_worker._private_jobs");
    await pool.query("checkpoint");
    let ran = 0;
    const taskList = { noop: async () => void ran++ };
    await pool.query(
      `select graphile_worker.add_jobs(array(select json_populate_record(null::graphile_worker.job_spec,
         json_build_object('identifier', 'noop', 'payload', json_build_object('id', i))) from generate_series(1, $1::int) i))`,
      [jobs],
    );
    const preset = {
      worker: {
        concurrentJobs: concurrency,
        maxPoolSize: concurrency + 2,
        pollInterval: 2000,
        ...(batched ? { localQueue: { size: 100 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } : {}),
      },
    };
    const t0 = performance.now();
    if (batched) {
      const runner = await gw.run({ pgPool: pool, taskList, logger, noHandleSignals: true, preset, concurrency });
      // Whether a job is left, not how many (a count would cost Postgres as much as it costs ours).
      await waitUntil(async () => !(await pool.query("select exists (select 1 from graphile_worker._private_jobs) as left")).rows[0].left);
      const seconds = (performance.now() - t0) / 1000;
      await runner.stop();
      return {
        scenario: `graphile-worker ${batched ? "batched" : "unbatched"}`,
        jobs_per_s: Math.round(jobs / seconds),
        seconds: +seconds.toFixed(2),
        jobs,
        ran,
      };
    }
    await gw.runOnce({ pgPool: pool, taskList, logger, concurrency, noHandleSignals: true, preset });
    const seconds = (performance.now() - t0) / 1000;
    return { scenario: "graphile-worker unbatched", jobs_per_s: Math.round(jobs / seconds), seconds: +seconds.toFixed(2), jobs, ran };
  });
}

export async function pgBoss(url: string, jobs: number): Promise<Metrics> {
  const { default: PgBoss } = await import("pg-boss");
  const workers = 10;
  const batchSize = 100;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query("drop schema if exists pgboss cascade");
  const boss = new PgBoss({ connectionString: url, max: workers + 4, supervise: false, schedule: false, migrate: true });
  boss.on("error", () => undefined);
  await boss.start();
  try {
    const queue = `bench_${Date.now()}`;
    await boss.createQueue(queue);
    for (let i = 0; i < jobs; i += 5000) {
      await boss.insert(Array.from({ length: Math.min(5000, jobs - i) }, (_, k) => ({ name: queue, data: { id: i + k } })));
    }
    await admin.query("checkpoint");
    const t0 = performance.now();
    for (let w = 0; w < workers; w++) await boss.work(queue, { batchSize, pollingIntervalSeconds: 0.5 }, async () => undefined);
    await waitUntil(
      async () => !(await admin.query("select exists (select 1 from pgboss.job where name = $1 and state < 'completed') as left", [queue])).rows[0].left,
    );
    const seconds = (performance.now() - t0) / 1000;
    return { scenario: "pg-boss", jobs_per_s: Math.round(jobs / seconds), seconds: +seconds.toFixed(2), jobs, workers, batchSize };
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 2000 }).catch(() => undefined);
    await admin.query("drop schema if exists pgboss cascade").catch(() => undefined);
    await admin.end();
  }
}

/** N clients claiming B rows with SKIP LOCKED and completing them in one UPDATE. */
export async function ceiling(url: string, jobs: number, batch = 100, clients = 8): Promise<Metrics> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query("drop table if exists waymark_bench_ceiling");
  await admin.query("create table waymark_bench_ceiling (id bigserial primary key, status text, payload jsonb, result jsonb)");
  await admin.query("create index waymark_bench_ceiling_ready on waymark_bench_ceiling (id) where status = 'queued'");
  await admin.query("insert into waymark_bench_ceiling (status, payload) select 'queued', jsonb_build_object('n', g) from generate_series(1, $1) g", [jobs]);
  await admin.query("vacuum analyze waymark_bench_ceiling");
  await admin.query("checkpoint");
  const claim = `update waymark_bench_ceiling set status = 'running' where id in (
    select id from waymark_bench_ceiling where status = 'queued' order by id limit $1 for update skip locked) returning id`;
  const conns = await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      for (;;) {
        const { rows } = await c.query({ name: "claim", text: claim, values: [batch] });
        if (!rows.length) return;
        await c.query("update waymark_bench_ceiling set status = 'done', result = '{\"ok\":true}' where id = any($1::bigint[])", [rows.map((r) => r.id)]);
        done += rows.length;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(conns.map((c) => c.end()));
  await admin.query("drop table if exists waymark_bench_ceiling");
  await admin.end();
  return { scenario: `raw ceiling B=${batch}`, jobs_per_s: Math.round(done / seconds), seconds: +seconds.toFixed(2), jobs: done, clients };
}
