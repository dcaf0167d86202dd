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
    // A connect that gets no answer (a host gone from the network) fails instead of waiting out
    // the kernel's TCP timeout; keepalives notice a peer that vanished under an idle connection.
    connectionTimeoutMillis: 30_000,
    keepAlive: true,
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

/**
 * Whether an error means the connection went away (the server terminated it, restarted, or
 * the network dropped it) rather than that the statement was wrong: a read that failed this
 * way can be asked again on a fresh connection.
 */
export function connectionLost(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string") {
    // 57P01 admin shutdown / terminate, 57P02 crash shutdown, 57P03 cannot connect now,
    // class 08: connection exceptions.
    if (code === "57P01" || code === "57P02" || code === "57P03" || code.startsWith("08")) return true;
    if (["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"].includes(code)) return true;
  }
  const message = (e as Error | null)?.message ?? "";
  return /Connection terminated|not queryable|connection error/i.test(message);
}

/**
 * Runs an idempotent statement (a read, or a write that a second run cannot repeat), asking
 * again on a fresh connection when the connection was lost, with backoff, for up to `forMs`.
 * Any other error, or a lost connection past `forMs`, is thrown.
 */
export async function retryLostConnection<T>(run: () => Promise<T>, forMs = 15_000): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await run();
    } catch (e) {
      if (!connectionLost(e) || Date.now() + delay > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * Runs `fn` with a client checked out of `pool` (a transaction's statements on one connection).
 * While a client is checked out, the pool no longer listens to it: a connection lost between two
 * statements (a server shutdown, a terminated backend) is an `error` event that, unheard, would
 * crash the process. Here it is heard, the next statement fails instead, and the client is
 * destroyed rather than returned to the pool.
 */
export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (e: Error) => {
    broken ??= e;
  };
  client.on("error", onError);
  try {
    return await fn(client);
  } catch (e) {
    if (connectionLost(e)) broken ??= e as Error;
    throw e;
  } finally {
    client.removeListener("error", onError);
    client.release(broken);
  }
}

/** Runs `fn` in a transaction on this client: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const out = await fn();
    await client.query("COMMIT");
    return out;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}

/** Subscribes this client to a channel (its notifications arrive as the client's "notification" events). */
export async function listen(client: pg.ClientBase, channel: string): Promise<void> {
  await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
}
