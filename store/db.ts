/**
 * The connection to the database, no table of its own: the pool, Queryable (a pool or a client,
 * maybe in the caller's transaction), transactions, the NOTIFY channels, and how connection
 * errors are told apart, named and retried.
 */
import pg from "pg";
import { redact, redactText } from "../log/redact.js";
import { WaymarkError } from "../core/errors.js";

/** Anything that runs a query: a pool, or a client (possibly inside the caller's transaction). */
export type Queryable = Pick<pg.Pool, "query"> | pg.ClientBase;

/**
 * NOTIFY channels. Payloads stay small (ids, counts); data is read from tables. The
 * supervisors' channel carries every kind of wake-up, so their LISTEN connection (re)subscribes
 * with one statement.
 */
export const CHANNELS = {
  /**
   * For supervisors: "queued" (an instance was queued or woken), "queued in <ms>" (one was queued
   * to start that much later), "cancel:<id>", "event:<id>" (a
   * message for a running instance), "schedule". Also sent by the SQL functions of
   * migrations/0005 under these names.
   */
  work: "waymark_work",
  /** For callers: finished instances, as a comma-separated list of ids; "published:<id>" for a value published. */
  done: "waymark_done",
} as const;

/** SQL that wakes the supervisors' pollers. */
export const NOTIFY_QUEUED = `pg_notify('${CHANNELS.work}', 'queued')`;

/**
 * SQL that tells the pollers about an instance due at `at` (an SQL expression): "queued" if it is
 * due now, "queued in <ms>" if later, so that a supervisor claims it when it falls due instead of
 * at its next poll. (In milliseconds from now rather than as a moment: the clocks of Postgres and
 * the supervisors may differ; the time the NOTIFY takes does not matter at this scale.)
 */
export function notifyQueuedAt(at: string): string {
  return `pg_notify('${CHANNELS.work}', CASE WHEN ${at} > now() THEN 'queued in ' || ceil(extract(epoch FROM ${at} - now()) * 1000)::bigint ELSE 'queued' END)`;
}
/** SQL that wakes the schedulers. */
export const NOTIFY_SCHEDULE = `pg_notify('${CHANNELS.work}', 'schedule')`;

// Parse int8 and numeric as numbers where they are counts or ids that fit.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

/**
 * Closes the socket of a client whose connect failed. pg leaves it open when the failure is its
 * own (a server that asks for a password the connection string lacks): the server then holds a
 * backend in authentication for its authentication_timeout (60 s), during which every DROP
 * DATABASE on the server waits for it, and a process that keeps trying leaks one per attempt.
 */
export function connectFailed(client: object): void {
  (client as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** The pool's clients: a failed connect closes its socket (connectFailed). */
class PoolClient extends pg.Client {
  override connect(): Promise<pg.Client>;
  override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
  override connect(callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): Promise<pg.Client> | undefined {
    if (!callback)
      return super.connect().catch((e: unknown) => {
        connectFailed(this);
        throw e;
      });
    const done = callback as (err: Error | null, c?: pg.Client) => void;
    super.connect((err: Error | null, c?: pg.Client) => {
      if (err) connectFailed(this);
      done(err, c);
    });
    return undefined;
  }
}

export function poolCreate(params: { connectionString: string; max?: number; allowExitOnIdle?: boolean; applicationName?: string }): pg.Pool {
  const pool = new pg.Pool({
    Client: PoolClient,
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

/** Whether `e` came from the database or the way to it (a lost connection, a statement Postgres refused), not from the caller's data. */
export function databaseError(e: unknown): boolean {
  return connectionLost(e) || typeof (e as { code?: unknown } | null)?.code === "string";
}

type ArrayElement = string | number | boolean | Date | null | undefined;

/**
 * A one-dimensional Postgres array literal for a query parameter (`$n::text[]`, `uuid[]`, ...),
 * built with one join. The driver's own encoder runs two regular expressions and four string
 * concatenations per element, whatever the element: in a tiny bench run it was a tenth of
 * everything the supervisor allocated (the batched write's fourteen arrays). Strings are quoted
 * and escaped only when they hold a quote or a backslash; null and undefined are NULL.
 */
export function arrayParam(values: readonly ArrayElement[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = arrayElement(values[i]);
  return `{${parts.join(",")}}`;
}

function arrayElement(v: ArrayElement): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "boolean") return v ? "t" : "f";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : `"${String(v)}"`;
  // An invalid date goes as the driver sends it, for Postgres to refuse (a data exception).
  const s = typeof v === "string" ? v : Number.isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
  return s.includes('"') || s.includes("\\") ? `"${s.replace(/["\\]/g, "\\$&")}"` : `"${s}"`;
}

/**
 * Whether Postgres refused a statement for what it carries (a value it cannot store, a limit of
 * the server), not for a lost connection: asking again would be refused again. SQLSTATE classes
 * 22 (data exception), 23 (integrity constraint) and 54 (program limit exceeded).
 */
export function contentRefused(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^(22|23|54)[0-9A-Z]{3}$/.test(code);
}

/**
 * Why a connection could not be opened, in a few words with the error's code, or undefined when
 * `e` is not a failure to connect (a wrong statement, a missing permission).
 */
export function connectFailure(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  // A host name with several addresses (localhost: ::1 and 127.0.0.1) fails as one AggregateError.
  if (e instanceof AggregateError && e.errors.length && (e as { code?: unknown }).code === undefined) return connectFailure(e.errors.at(-1));
  const err = e as { code?: unknown; message?: unknown; address?: unknown; port?: unknown; hostname?: unknown };
  const code = typeof err.code === "string" ? err.code : undefined;
  const message = typeof err.message === "string" ? err.message : "";
  const at = typeof err.address === "string" ? ` at ${err.address}${typeof err.port === "number" ? `:${err.port}` : ""}` : "";
  switch (code) {
    case "ECONNREFUSED":
      return `connection refused${at} (ECONNREFUSED): is PostgreSQL running and listening there?`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
    case "EAI_FAIL":
      return `unknown host${typeof err.hostname === "string" ? ` ${err.hostname}` : ""} (${code})`;
    case "ETIMEDOUT":
      return `no answer${at} (ETIMEDOUT)`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `host unreachable${at} (${code})`;
    case "ECONNRESET":
      return `the connection was reset${at} (ECONNRESET)`;
    case "28P01":
    case "28000":
      return `authentication failed: ${message} (${code})`;
    case "3D000":
      return `${message} (3D000)`;
    case "57P03":
    case "53300":
      return `${message} (${code})`;
  }
  if (code?.startsWith("08")) return `${message} (${code})`;
  if (/^SASL: .*password must be a string/.test(message)) return "authentication failed: the server asks for a password and the connection string has none";
  if (/timeout expired|due to connection timeout/i.test(message)) return "no answer within the connection timeout";
  if (/^Connection terminated unexpectedly/.test(message)) return "the server closed the connection while it was being opened";
  return undefined;
}

/** Where a connection string came from, as an error message names it. */
export type DatabaseSource = "WAYMARK_DATABASE_URL" | "embedded";

/** How a message names the database: the variable and its value, password hidden. */
export function databaseName(p: { url: string; source: DatabaseSource }): string {
  if (p.source === "embedded") return `the embedded PostgreSQL ${p.url ? `at ${redact(p.url)}` : "under .waymark/"}`;
  return `WAYMARK_DATABASE_URL=${redact(p.url)}`;
}

/**
 * The one-line error for a database that cannot be reached (the variable, its value with the
 * password hidden, and the cause), or undefined when `error` is not a failure to connect.
 */
export function databaseUnreachable(p: { url: string; source: DatabaseSource; error: unknown }): WaymarkError | undefined {
  const why = connectFailure(p.error);
  if (!why) return undefined;
  return new WaymarkError("WAYMARK_CONNECTION", `cannot connect to the database (${databaseName(p)}): ${redactText(why)}`, { cause: p.error });
}

/**
 * Postgres broke a deadlock by aborting this statement: nothing it did was written, so it may
 * simply run again. (A child's end wakes its parent and a parent's end cancels its children,
 * both from triggers: a parent cancelled while its child finishes can meet it head on.)
 */
function deadlocked(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === "40P01";
}

/**
 * Runs an idempotent statement (a read, or a write that a second run cannot repeat), asking
 * again on a fresh connection when the connection was lost, with backoff, for up to `forMs`;
 * and again at once (any statement) when Postgres aborted it to break a deadlock. Any other
 * error, or a lost connection past `forMs`, is thrown.
 */
export async function retryLostConnection<T>(run: () => Promise<T>, forMs = 15_000): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await run();
    } catch (e) {
      if (deadlocked(e) && Date.now() < deadline) continue;
      if (!connectionLost(e) || Date.now() + delay > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Runs a statement again while Postgres aborts it to break a deadlock (nothing of it was written). */
export async function retryDeadlock<T>(run: () => Promise<T>, times = 5): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await run();
    } catch (e) {
      if (!deadlocked(e) || i >= times) throw e;
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

/** True when the database answers (for /healthz). */
export async function databasePing(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ ok: number }>(`SELECT 1 AS ok`);
  return rows[0]?.ok === 1;
}
