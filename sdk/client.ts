import { randomBytes } from "node:crypto";
import path from "node:path";
import type pg from "pg";
import { loadConfig, redact, type WaymarkConfig } from "../config/env.js";
import { poolCreate, type Queryable } from "../store/db.js";
import { embeddedDiscover, EMBEDDED_DIR } from "../store/embedded.js";
import { instanceCancel, instanceGet, instanceInsert, instanceInsertMany, type InstanceOutcome, type InstanceStatus } from "../store/instances.js";
import { migrate } from "../store/migrate.js";
import { versionUpsert } from "../store/versions.js";
import { decode, encode, type Encoded, type ErrorData } from "./codec.js";
import { WaymarkError, WorkflowCancelledError, WorkflowFailedError } from "./errors.js";
import { encode as encodeValue } from "./codec.js";
import { DoneListener } from "./listener.js";
import type { WorkflowDefinition } from "./definition.js";

/**
 * The SDK's connection to Postgres: a small pool (that lets the process exit when idle), the
 * shared completion listener, the one-time migration check, and the version ids of the
 * workflows this process has queued.
 */
let configCache: WaymarkConfig | undefined;

/** The SDK's view of the environment, read once. */
export function sdkConfig(): WaymarkConfig {
  return (configCache ??= loadConfig().config);
}

async function connectionString(): Promise<string> {
  const url = sdkConfig().databaseUrl;
  if (url) return url;
  const dir = path.resolve(EMBEDDED_DIR);
  const embedded = await embeddedDiscover(dir);
  if (embedded) return embedded;
  throw new WaymarkError(
    "WAYMARK_CONNECTION",
    `no database: set WAYMARK_DATABASE_URL, or start \`waymark supervise\` in this directory (${process.cwd()}) to run the embedded PostgreSQL under ${EMBEDDED_DIR}/`,
  );
}

/** UUIDv7: time-ordered, so new rows land at the right edge of the primary key index. */
export function uuidv7(): string {
  const bytes = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface StartOptions {
  /** A second start with the same key (and workflow) returns the first instance. */
  idempotencyKey?: string;
  /** Higher runs first among queued instances. @default 0 */
  priority?: number;
  /** Do not start before this many milliseconds from now. @default 0 */
  delayMs?: number;
  /** A `pg` client in the caller's transaction: the instance is queued only if it commits. */
  client?: pg.ClientBase;
}

function errorData(value: Encoded | null): ErrorData {
  const d = (value ?? {}) as Record<string, unknown>;
  return { name: typeof d.name === "string" ? d.name : "Error", message: typeof d.message === "string" ? d.message : "" };
}

/** Turns a finished instance into its result, or the error `run()` rejects with. */
export function outcomeValue(o: InstanceOutcome): unknown {
  if (o.status === "completed") return o.result === null ? undefined : decode(o.result);
  if (o.status === "cancelled") throw new WorkflowCancelledError({ instanceId: o.id, workflowName: o.workflowName });
  const data = errorData(o.error);
  const cause = o.error ? decode(o.error) : undefined;
  throw new WorkflowFailedError({ instanceId: o.id, workflowName: o.workflowName, errorName: data.name, errorMessage: data.message, cause });
}

export class WaymarkClient {
  private migrated: Promise<void> | undefined;
  private readonly versions = new Map<WorkflowDefinition, Promise<number>>();
  readonly listener: DoneListener;

  constructor(
    readonly connectionString: string,
    readonly pool: pg.Pool,
  ) {
    this.listener = new DoneListener(connectionString, pool);
  }

  /** Migrates once per process (a no-op query when the schema is current). */
  ready(): Promise<void> {
    this.migrated ??= migrate({ connectionString: this.connectionString }).then(
      () => undefined,
      (e: unknown) => {
        this.migrated = undefined;
        throw new WaymarkError("WAYMARK_CONNECTION", `cannot reach the database at ${redact(this.connectionString)}: ${(e as Error).message}`, { cause: e });
      },
    );
    return this.migrated;
  }

  /** The version id of a workflow, registered once per process. */
  versionId(def: WorkflowDefinition, db: Queryable = this.pool): Promise<number> {
    let id = this.versions.get(def);
    if (!id) {
      id = versionUpsert(db === this.pool ? this.pool : this.pool, { name: def.name, hash: def.compiled.hash, ir: def.compiled.ir, sourceFile: def.compiled.source.file });
      id.catch(() => this.versions.delete(def));
      this.versions.set(def, id);
    }
    return id;
  }

  async start(def: WorkflowDefinition, args: unknown[], options: StartOptions = {}): Promise<{ id: string; inserted: boolean }> {
    const encoded = args.map((a, i) => encode(a, `argument ${i + 1} of workflow ${def.name}`));
    if (options.priority !== undefined && !Number.isInteger(options.priority)) throw new TypeError(`priority must be an integer, got ${String(options.priority)}`);
    if (options.delayMs !== undefined && !(Number.isFinite(options.delayMs) && options.delayMs >= 0)) throw new TypeError(`delayMs must be a number >= 0, got ${String(options.delayMs)}`);
    await this.ready();
    const versionId = await this.versionId(def);
    // Listen before queueing: the completion cannot slip between the insert and the LISTEN.
    await this.listener.ready();
    return instanceInsert(options.client ?? this.pool, {
      id: uuidv7(),
      workflowName: def.name,
      versionId,
      args: encoded,
      priority: options.priority,
      delayMs: options.delayMs,
      idempotencyKey: options.idempotencyKey ?? null,
    });
  }

  async startMany(def: WorkflowDefinition, argsList: unknown[][], options: { priority?: number } = {}): Promise<string[]> {
    const encoded = argsList.map((args, n) => args.map((a, i) => encode(a, `argument ${i + 1} of workflow ${def.name} (instance ${n + 1})`)) as Encoded);
    await this.ready();
    const versionId = await this.versionId(def);
    const ids = encoded.map(() => uuidv7());
    for (let i = 0; i < ids.length; i += 1000) {
      await instanceInsertMany(this.pool, { workflowName: def.name, versionId, ids: ids.slice(i, i + 1000), args: encoded.slice(i, i + 1000), priority: options.priority });
    }
    return ids;
  }

  async result(id: string): Promise<unknown> {
    return outcomeValue(await this.listener.wait(id));
  }

  async status(id: string): Promise<InstanceStatus> {
    const row = await instanceGet(this.pool, { id });
    if (!row) throw new WaymarkError("WAYMARK_NOT_FOUND", `no workflow instance ${id}`);
    return row.status;
  }

  /** Cancels an instance; returns the status it had (a finished one is left as it is). */
  async cancel(id: string, workflowName: string): Promise<InstanceStatus> {
    await this.ready();
    const before = await instanceCancel(this.pool, { id, error: encodeValue(new WorkflowCancelledError({ instanceId: id, workflowName })) });
    if (!before) throw new WaymarkError("WAYMARK_NOT_FOUND", `no workflow instance ${id}`);
    return before;
  }

  async close(): Promise<void> {
    await this.listener.close();
    await this.pool.end();
  }
}

let shared: Promise<WaymarkClient> | undefined;

/** The process-wide client, connected on first use. */
export function sharedClient(): Promise<WaymarkClient> {
  shared ??= connectionString().then((url) => new WaymarkClient(url, poolCreate({ connectionString: url, max: 10, allowExitOnIdle: true, applicationName: "waymark-sdk" })));
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}

/** Closes the shared connection (tests, scripts that want a clean exit). */
export async function closeClient(): Promise<void> {
  const c = shared;
  shared = undefined;
  if (c) await (await c).close();
}
