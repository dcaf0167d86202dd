import path from "node:path";
import type pg from "pg";
import { redactText } from "../log/redact.js";
import { databaseName, databaseUnreachable, poolCreate, retryDeadlock, retryLostConnection, type DatabaseSource, type Queryable } from "../store/db.js";
import { embeddedDiscover, EMBEDDED_DIR } from "../embedded/server.js";
import { traceparentOf } from "../core/trace.js";
import {
  FINISHED,
  instanceCancel,
  instanceGet,
  instanceInsert,
  instanceInsertMany,
  instanceOutcomes,
  type InstanceOutcome,
  type InstanceStatus,
} from "../store/instances.js";
import { migrate } from "../store/migrate.js";
import { versionUpsert } from "../store/versions.js";
import { uuidv7 } from "../core/ids.js";
import { outcomeValue, sdkConfig, startCheck, type StartOptions } from "./settings.js";
import { checkSize, decode, encode, type Encoded } from "../core/codec.js";
import { workflowRegistry, type WorkflowDefinition } from "./definition.js";
import { InstanceFinishedError, InstanceNotFoundError, WaymarkError, WorkflowCancelledError } from "../core/errors.js";
import { childrenList, eventSend, publishedGet, type ChildSummary } from "../store/events.js";
import { DoneListener } from "./listener.js";

/**
 * The SDK's connection to Postgres: a small pool (that lets the process exit when idle), the
 * shared completion listener, the one-time migration check, and the version ids of the
 * workflows this process has queued. Loaded on first use (sdk/client.ts `sharedClient`), so a
 * process that only defines workflows and actions (a worker child) never loads pg.
 */
async function connectionString(): Promise<{ url: string; source: DatabaseSource }> {
  const url = sdkConfig().databaseUrl;
  if (url) return { url, source: "WAYMARK_DATABASE_URL" };
  const dir = path.resolve(EMBEDDED_DIR);
  const embedded = await embeddedDiscover(dir);
  if (embedded) return { url: embedded, source: "embedded" };
  throw new WaymarkError(
    "WAYMARK_CONNECTION",
    `no database: set WAYMARK_DATABASE_URL, or start \`waymark supervise\` in this directory (${process.cwd()}) to run the embedded PostgreSQL under ${EMBEDDED_DIR}/`,
  );
}

export async function connect(): Promise<WaymarkClient> {
  const { url, source } = await connectionString();
  return new WaymarkClient(url, poolCreate({ connectionString: url, max: 10, allowExitOnIdle: true, applicationName: "waymark-sdk" }), source);
}

/**
 * How long a call asks again on a fresh connection when the database went away (a restart, a
 * failover): the README's promise for start(), startMany(), status(), cancel() and result().
 */
const RETRY_LOST_CONNECTION_MS = 15_000;

/** The time left until `deadline`, for the next step of a call that shares one retry budget. */
const left = (deadline: number) => Math.max(0, deadline - Date.now());

/** startMany's instances per statement, and its statements in flight at once (on as many connections). */
const START_MANY_CHUNK = 1000;
const START_MANY_IN_FLIGHT = 2;

export class WaymarkClient {
  private migrated: Promise<void> | undefined;
  private readonly versions = new Map<WorkflowDefinition, Promise<number>>();
  readonly listener: DoneListener;

  constructor(
    readonly connectionString: string,
    readonly pool: pg.Pool,
    readonly source: DatabaseSource = "WAYMARK_DATABASE_URL",
  ) {
    this.listener = new DoneListener(connectionString, pool);
  }

  /**
   * Migrates once per process (a no-op query when the schema is current). A database this
   * process has not reached yet fails at once, naming WAYMARK_DATABASE_URL and the cause: a wrong
   * address or password should not wait. (Once migrated, a call during an outage does not come
   * here: its statements are asked again on fresh connections.)
   */
  ready(): Promise<void> {
    this.migrated ??= this.migrate().catch((e: unknown) => {
      this.migrated = undefined;
      throw (
        databaseUnreachable({ url: this.connectionString, source: this.source, error: e }) ??
        new WaymarkError(
          "WAYMARK_CONNECTION",
          `could not prepare the database (${databaseName({ url: this.connectionString, source: this.source })}): ${redactText((e as Error).message)}`,
          { cause: e },
        )
      );
    });
    return this.migrated;
  }

  private async migrate(): Promise<void> {
    await migrate({ connectionString: this.connectionString });
  }

  /**
   * The version id of a workflow, registered once per process (`latest: true` registers again and
   * makes it the version schedules fire). On the SDK's own pool the upsert (idempotent) is asked
   * again on a fresh connection until `deadline`.
   */
  versionId(def: WorkflowDefinition, db: Queryable = this.pool, o: { latest?: boolean; deadline?: number } = {}): Promise<number> {
    let id = o.latest ? undefined : this.versions.get(def);
    if (!id) {
      const upsert = () =>
        versionUpsert(db, {
          name: def.name,
          hash: def.compiled.hash,
          ir: def.compiled.ir,
          sourceFile: def.compiled.source.file,
          sourceLine: def.compiled.source.line,
          latest: o.latest,
        });
      id = db === this.pool ? retryLostConnection(upsert, left(o.deadline ?? Date.now() + RETRY_LOST_CONNECTION_MS)) : upsert();
      id.catch(() => this.versions.delete(def));
      this.versions.set(def, id);
    }
    return id;
  }

  /**
   * The version ids of a workflow and of every child workflow it may start (and theirs), found
   * in this process's registry: a child starts on the latest registered version of its workflow,
   * so one is registered before its parent can start it.
   */
  async versionTree(def: WorkflowDefinition, db: Queryable, o: { deadline?: number } = {}): Promise<number> {
    const registry = workflowRegistry();
    const seen = new Set<WorkflowDefinition>([def]);
    const queue = [def];
    while (queue.length) {
      for (const name of queue.shift()!.compiled.ir.children ?? []) {
        const child = registry.get(name);
        if (child && !seen.has(child)) {
          seen.add(child);
          queue.push(child);
        }
      }
    }
    const ids = await Promise.all([...seen].map((d) => this.versionId(d, db, o)));
    return ids[0]!;
  }

  async start(def: WorkflowDefinition, args: unknown[], options: StartOptions = {}): Promise<{ id: string; inserted: boolean }> {
    return this.queue(def, args, options);
  }

  /**
   * Queues an instance and waits for its outcome (a workflow's `run()`). The wait starts before
   * the insert, on a listener already listening, so the outcome cannot pass unseen and needs no
   * read: the write that finishes an instance tells its outcome on the done channel.
   */
  async run(def: WorkflowDefinition, args: unknown[]): Promise<unknown> {
    let watching: ReturnType<DoneListener["watch"]> | undefined;
    try {
      await this.queue(def, args, {}, (id) => (watching = this.listener.watch(id)));
    } catch (e) {
      watching?.stop();
      throw e;
    }
    return outcomeValue(await watching!.outcome);
  }

  /** `start()`, calling `listening` with the id once the listener listens and before the insert. */
  private async queue(
    def: WorkflowDefinition,
    args: unknown[],
    options: StartOptions,
    listening?: (id: string) => void,
  ): Promise<{ id: string; inserted: boolean }> {
    const encoded = startCheck(def.name, args, options, sdkConfig().maxValueBytes);
    // One budget for every step: a call during an outage waits at most RETRY_LOST_CONNECTION_MS.
    const deadline = Date.now() + RETRY_LOST_CONNECTION_MS;
    await this.ready();
    const versionId = await this.versionTree(def, this.pool, { deadline });
    // Listen before queueing: the completion cannot slip between the insert and the LISTEN.
    await this.listener.ready(left(deadline));
    const row = {
      id: uuidv7(),
      workflowName: def.name,
      versionId,
      args: encoded,
      priority: options.priority,
      delayMs: options.delayMs,
      idempotencyKey: options.idempotencyKey ?? null,
      // The caller's span (with an OpenTelemetry SDK registered) parents the instance's spans.
      traceContext: traceparentOf() ?? null,
    };
    listening?.(row.id);
    // Inside the caller's transaction a lost connection is theirs to handle. Outside, the insert
    // is asked again: its id is fixed, so a retry after a commit whose reply was lost finds the
    // row instead of queueing a second one.
    if (options.client) return instanceInsert(options.client, row);
    return retryLostConnection(() => instanceInsert(this.pool, row), left(deadline));
  }

  async startMany(def: WorkflowDefinition, argsList: unknown[][], options: { priority?: number; delayMs?: number } = {}): Promise<string[]> {
    if (options.delayMs !== undefined && !(Number.isFinite(options.delayMs) && options.delayMs >= 0))
      throw new TypeError(`delayMs must be a number >= 0, got ${String(options.delayMs)}`);
    const limit = sdkConfig().maxValueBytes;
    const encoded = argsList.map((args, n) => {
      const one = args.map((a, i) => encode(a, `argument ${i + 1} of workflow ${def.name} (instance ${n + 1})`));
      checkSize(one, `the arguments of workflow ${def.name} (instance ${n + 1})`, limit);
      return one;
    }) as Encoded[];
    const deadline = Date.now() + RETRY_LOST_CONNECTION_MS;
    await this.ready();
    const versionId = await this.versionTree(def, this.pool, { deadline });
    const ids = encoded.map(() => uuidv7());
    const traceContext = traceparentOf() ?? null;
    const chunk = (i: number, since: string | undefined, budgetMs: number) =>
      retryLostConnection(
        () =>
          instanceInsertMany(this.pool, {
            workflowName: def.name,
            versionId,
            ids: ids.slice(i, i + START_MANY_CHUNK),
            args: encoded.slice(i, i + START_MANY_CHUNK),
            priority: options.priority,
            delayMs: options.delayMs,
            traceContext,
            since,
          }),
        budgetMs,
      );
    // The first chunk alone; its moment is every chunk's, so all the call's instances are due
    // together and claimed in id order (the order given), whichever chunk commits first. The
    // others go START_MANY_IN_FLIGHT at a time on as many connections, each a statement (and a
    // transaction) of its own, each with the full retry budget: an outage in the middle of a
    // long batch is a new outage.
    const { since } = await chunk(0, undefined, left(deadline));
    let next = START_MANY_CHUNK;
    const lane = async () => {
      while (next < ids.length) {
        const i = next;
        next += START_MANY_CHUNK;
        await chunk(i, since, RETRY_LOST_CONNECTION_MS);
      }
    };
    await Promise.all(Array.from({ length: START_MANY_IN_FLIGHT }, lane));
    return ids;
  }

  /**
   * Waits for an instance's outcome. An id with no row (never queued, queued in a transaction
   * that rolled back or has not committed yet, or removed by retention) is an error at once,
   * not a wait that never ends. A connection lost on the way (a server restart, a terminated
   * backend) is asked again on a fresh one.
   */
  async result(id: string): Promise<unknown> {
    const deadline = Date.now() + RETRY_LOST_CONNECTION_MS;
    await this.ready(); // a database never reached fails at once, as for start()
    // Waiting first, then one read: an outcome told after the read is heard, one before it is read.
    await this.listener.ready(left(deadline));
    const watching = this.listener.watch(id);
    let now: InstanceOutcome | undefined;
    try {
      [now] = await retryLostConnection(() => instanceOutcomes(this.pool, { ids: [id] }), left(deadline));
    } catch (e) {
      watching.stop();
      throw e;
    }
    if (!now) {
      watching.stop();
      throw new InstanceNotFoundError(
        id,
        ": it was never queued, its transaction rolled back or has not committed yet, or it was removed after its retention period",
      );
    }
    if (FINISHED.includes(now.status)) {
      watching.stop();
      return outcomeValue(now);
    }
    return outcomeValue(await watching.outcome);
  }

  async status(id: string): Promise<InstanceStatus> {
    await this.ready();
    const row = await retryLostConnection(() => instanceGet(this.pool, { id }), RETRY_LOST_CONNECTION_MS);
    if (!row) throw new InstanceNotFoundError(id);
    return row.status;
  }

  /** Cancels an instance; returns the status it had (a finished one is left as it is). */
  async cancel(id: string, workflowName?: string): Promise<InstanceStatus> {
    const deadline = Date.now() + RETRY_LOST_CONNECTION_MS;
    await this.ready();
    const name = workflowName ?? (await retryLostConnection(() => instanceGet(this.pool, { id }), left(deadline)))?.workflowName;
    if (name === undefined) throw new InstanceNotFoundError(id);
    const error = encode(new WorkflowCancelledError({ instanceId: id, workflowName: name }));
    const before = await retryLostConnection(() => instanceCancel(this.pool, { id, error }), left(deadline));
    if (!before) throw new InstanceNotFoundError(id);
    return before;
  }

  /** Appends a message to an instance's mailbox (see sdk/events.ts for the checks made before). */
  async sendEvent(id: string, name: string, payload: Encoded, key: string | null): Promise<void> {
    const deadline = Date.now() + RETRY_LOST_CONNECTION_MS;
    await this.ready();
    // Idempotent when keyed: asked again after a lost reply, it stores nothing twice. Unkeyed,
    // a lost connection is the caller's to handle, as for any insert.
    const send = () => eventSend(this.pool, { id, name, payload, key });
    const r = key ? await retryLostConnection(send, left(deadline)) : await retryDeadlock(send);
    if (r === "not_found") throw new InstanceNotFoundError(id);
    if (r === "finished") throw new InstanceFinishedError(id);
  }

  /** The latest value published under `key`, waiting up to `waitMs` for a first one. */
  async published(id: string, key: string, waitMs: number): Promise<unknown> {
    const deadline = Date.now() + waitMs;
    await this.ready();
    const read = async () => {
      const got = await retryLostConnection(() => publishedGet(this.pool, { id, key }), RETRY_LOST_CONNECTION_MS);
      if (!got) throw new InstanceNotFoundError(id);
      return got;
    };
    if (waitMs <= 0) {
      const got = await read();
      return got.found ? decode(got.value!) : undefined;
    }
    // Listen before the first read: a value published between the two is not missed.
    await this.listener.ready(Math.max(0, deadline - Date.now()));
    return this.listener.waitFor(`published:${id}`, deadline, async () => {
      const got = await read();
      return got.found ? { value: decode(got.value!) } : undefined;
    });
  }

  async children(id: string): Promise<ChildSummary[]> {
    await this.ready();
    const [row, list] = await retryLostConnection(
      () => Promise.all([instanceGet(this.pool, { id }), childrenList(this.pool, { id })]),
      RETRY_LOST_CONNECTION_MS,
    );
    if (!row) throw new InstanceNotFoundError(id);
    return list;
  }

  async close(): Promise<void> {
    // The pool's idle connections are unref'd (allowExitOnIdle): without a handle of its own,
    // the process could exit with their goodbyes pending (exit code 13, an unsettled await).
    const keep = setInterval(() => undefined, 60_000);
    try {
      await this.listener.close();
      await this.pool.end();
    } finally {
      clearInterval(keep);
    }
  }
}
