/**
 * What the commands that read the database share: `withDatabase` gives a command the SDK's pool
 * for its run and closes it however the command ends, so the process can exit; `printJson` is
 * their JSON output, which keeps values JSON.stringify refuses (BigInt) or empties (Map, Set).
 */
import type pg from "pg";
import { closeClient, sharedClient } from "../sdk/client.js";

/** Runs `fn` with the SDK's database pool (WAYMARK_DATABASE_URL or the embedded server here). */
export async function withDatabase<T>(fn: (db: pg.Pool) => Promise<T>): Promise<T> {
  const client = await sharedClient();
  try {
    await client.ready();
    return await fn(client.pool);
  } finally {
    await closeClient();
  }
}

/** JSON for humans: BigInts as strings, Maps and Sets as arrays, undefined kept out. */
export function printJson(value: unknown, indent: number | undefined = 2): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Map ? Object.fromEntries(v) : v instanceof Set ? [...v] : v),
    indent,
  );
}
