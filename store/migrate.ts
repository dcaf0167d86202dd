/**
 * waymark.migrations and the schema itself: applies the numbered `.sql` files of
 * migrations/ in order, one transaction each, one migrator at a time across processes.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import pg from "pg";
import { silentLogger, type Logger } from "../log/logger.js";
import { inTransaction } from "./db.js";

/** Where the numbered `.sql` files live: `<package>/migrations`, beside `dist/` (or beside `store/` when run from source). */
const MIGRATIONS_DIR =
  [new URL("../../migrations/", import.meta.url), new URL("../migrations/", import.meta.url)]
    .map((u) => fileURLToPath(u))
    .find((dir) => existsSync(path.join(dir, "0001_init.sql"))) ?? fileURLToPath(new URL("../../migrations/", import.meta.url));

// Any constant shared by every waymark process: serialises migrations across processes.
const MIGRATION_LOCK = 0x7761796d; // "waym"

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function migrationsLoad(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const version = Number.parseInt(file, 10);
    if (out.some((m) => m.version === version)) throw new Error(`two migrations share number ${version} in ${dir}`);
    out.push({ version, name: file.replace(/\.sql$/, ""), sql: await readFile(path.join(dir, file), "utf8") });
  }
  return out;
}

/**
 * Applies the pending migrations, each in its own transaction that records its version first
 * (so a concurrent migrator fails on the primary key rather than applying it twice) under a
 * transaction-scoped advisory lock (so two supervisors starting at once simply queue).
 */
export async function migrate(params: { connectionString?: string; client?: pg.ClientBase; log?: Logger }): Promise<{ applied: number[] }> {
  const log = params.log ?? silentLogger;
  const own = params.client ? undefined : new pg.Client({ connectionString: params.connectionString });
  // A connection lost between statements is an error event: heard here, the next statement fails.
  own?.on("error", () => undefined);
  const client = params.client ?? own!;
  if (own) await own.connect();
  const applied: number[] = [];
  try {
    const migrations = await migrationsLoad();
    // Fast path: nothing to do (one query, no lock) when the schema is current.
    // Postgres resolves every table of a query before running it, so the existence check
    // must be its own statement.
    const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('waymark.migrations')::text AS t`);
    const latest = migrations.at(-1)?.version ?? 0;
    if (exists.rows[0]?.t) {
      const current = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM waymark.migrations");
      if ((current.rows[0]?.v ?? 0) >= latest) return { applied };
    }

    for (const m of migrations) {
      const ran = await inTransaction(client, async () => {
        await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS waymark`);
        await client.query(`CREATE TABLE IF NOT EXISTS waymark.migrations (
          version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
        const done = await client.query("SELECT 1 FROM waymark.migrations WHERE version = $1", [m.version]);
        if (done.rowCount) return false;
        // Recorded first: a second migrator that got past the lock somehow fails here.
        await client.query("INSERT INTO waymark.migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
        await client.query(m.sql);
        return true;
      });
      if (ran) {
        applied.push(m.version);
        log.info("applied migration", { version: m.version, name: m.name });
      }
    }
    return { applied };
  } finally {
    if (own) await own.end();
  }
}
