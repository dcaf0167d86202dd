import pg from "pg";

/** Anything that runs a query: a pool, or a client (possibly inside the caller's transaction). */
export type Queryable = Pick<pg.Pool, "query"> | pg.ClientBase;

/**
 * NOTIFY channels. Payloads stay small (ids, counts); data is read from tables. The
 * supervisors' channel carries every kind of wake-up, so their LISTEN connection (re)subscribes
 * with one statement.
 */
export const CHANNELS = {
  /** For supervisors: "queued" (an instance was queued or woken), "cancel:<id>", "schedule". */
  work: "waymark_work",
  /** For callers: finished instances, as a comma-separated list of ids. */
  done: "waymark_done",
} as const;

/** SQL that wakes the supervisors' pollers. */
export const NOTIFY_QUEUED = `pg_notify('${CHANNELS.work}', 'queued')`;
/** SQL that wakes the schedulers. */
export const NOTIFY_SCHEDULE = `pg_notify('${CHANNELS.work}', 'schedule')`;
/** SQL that tells the owner of instance `idSql` to cancel it. */
export const notifyCancel = (idSql: string) => `pg_notify('${CHANNELS.work}', 'cancel:' || ${idSql})`;

// Parse int8 and numeric as numbers where they are counts or ids that fit.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

export function poolCreate(params: { connectionString: string; max?: number; allowExitOnIdle?: boolean; applicationName?: string }): pg.Pool {
  const pool = new pg.Pool({
    connectionString: params.connectionString,
    max: params.max ?? 10,
    allowExitOnIdle: params.allowExitOnIdle ?? false,
    application_name: params.applicationName ?? "waymark",
    idleTimeoutMillis: 30_000,
    // The hot statements are named (prepared once per connection) and written for one plan
    // (primary-key lookups, partial indexes named by constants in their text). Left to itself,
    // Postgres may re-plan them on every execution, which costs more than running them.
    options: "-c plan_cache_mode=force_generic_plan",
  });
  // An idle client that loses its connection emits on the pool: without a listener that would
  // crash the process. The next query gets a fresh connection.
  pool.on("error", () => undefined);
  return pool;
}
