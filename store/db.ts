import pg from "pg";

/** Anything that runs a query: a pool, or a client (possibly inside the caller's transaction). */
export type Queryable = Pick<pg.Pool, "query"> | pg.ClientBase;

/** NOTIFY channels. Payloads stay small (ids, counts); data is read from tables. */
export const CHANNELS = {
  /** An instance was queued or woken: pollers claim at once. */
  queued: "waymark_queued",
  /** Instances finished: payload is a comma-separated list of ids. */
  done: "waymark_done",
  /** A cancellation was requested: payload is the instance id. */
  cancel: "waymark_cancel",
  /** A schedule changed: the scheduler looks again. */
  schedule: "waymark_schedule",
} as const;

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
  });
  // An idle client that loses its connection emits on the pool: without a listener that would
  // crash the process. The next query gets a fresh connection.
  pool.on("error", () => undefined);
  return pool;
}
