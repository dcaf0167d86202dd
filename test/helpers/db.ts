/**
 * One database per test file, cloned from the migrated template that `npm test` (test/run.ts)
 * prepares: `CREATE DATABASE ... TEMPLATE waymark_template` costs a few milliseconds, so every
 * file gets a clean schema without running the migrations again.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { TestFn } from "ava";

export interface TestDatabase {
  url: string;
  name: string;
  /** Drops the database, ending any connection still open to it. Safe to call twice. */
  drop(): Promise<void>;
}

/**
 * The test servers' settings: their data need not outlive the machine, and a crash of the server
 * process (which the fault tests cause) loses nothing without fsync; the bench keeps fsync on.
 */
export const TEST_POSTGRES_SETTINGS = { fsync: "off", synchronous_commit: "off", full_page_writes: "off" };

const MISSING = "WAYMARK_TEST_DATABASE_URL is not set: run the tests with `npm test` (it starts the test database), " + "or set WAYMARK_TEST_DATABASE_URL";

function adminUrl(): string {
  const url = process.env.WAYMARK_TEST_DATABASE_URL;
  if (!url) throw new Error(MISSING);
  return url;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh database cloned from the migrated template (or, with `empty`, with no schema at all). */
export async function testDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const template = options.empty ? "template0" : (process.env.WAYMARK_TEST_TEMPLATE ?? "waymark_template");
  const name = `waymark_test_${randomBytes(6).toString("hex")}`;
  for (let attempt = 1; ; attempt++) {
    try {
      await adminQuery(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(template)}`);
      break;
    } catch (e) {
      // Cloning needs the template to itself: another file's clone may be connected for a moment.
      const busy = (e as { code?: string }).code === "55006" || /is being accessed by other users/.test(String(e));
      if (!busy || attempt >= 10) throw e;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop: () => (dropped ??= adminQuery(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`)),
  };
}

/**
 * A database for the whole test file, created on first use and dropped in `test.after.always`.
 * The getter is async because ava runs `before` hooks concurrently: any hook may ask first.
 */
export function useTestDatabase<Context>(test: TestFn<Context>): () => Promise<string> {
  adminUrl(); // fail at import, with the hint, when the file is run without `npm test`
  let db: Promise<TestDatabase> | undefined;
  test.after.always(async () => {
    if (db) await (await db).drop();
  });
  return async () => (await (db ??= testDatabase())).url;
}
