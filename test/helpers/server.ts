/**
 * A PostgreSQL server of a test's own, for fault tests: stopping or crashing it disturbs no other
 * test file. It is the bench's private server (bench/server.ts), migrated, with the SDK pointed at it.
 */
import { close } from "waymark";
import { privateServer, type PrivateServer } from "../../bench/server.js";
import { migrate } from "../../store/migrate.js";
import { TEST_POSTGRES_SETTINGS } from "./db.js";

export type OwnServer = PrivateServer;

/**
 * A migrated server that the SDK uses (WAYMARK_DATABASE_URL points at it, and the SDK's shared
 * connection is closed so the next call connects there).
 */
export async function ownServer(prefix: string): Promise<OwnServer> {
  const server = await privateServer({ prefix, settings: TEST_POSTGRES_SETTINGS });
  await migrate({ connectionString: server.url });
  process.env.WAYMARK_DATABASE_URL = server.url;
  await close();
  return server;
}
