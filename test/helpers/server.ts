/**
 * A PostgreSQL server of a test's own, for fault tests: stopping it disturbs no other test file.
 */
import { mkdtempSync } from "node:fs";
import { chmod, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { close } from "waymark";
import { embeddedStart } from "../../store/embedded.js";
import { migrate } from "../../store/migrate.js";

export interface OwnServer {
  url: string;
  /** Stops the server (a clean shutdown: its connections end). */
  stop(): Promise<void>;
  /** Starts it again on the same data and address; returns its URL. */
  restart(): Promise<string>;
  /** Stops it and removes its data. */
  remove(): Promise<void>;
}

/**
 * A migrated server that the SDK uses (WAYMARK_DATABASE_URL points at it, and the SDK's shared
 * connection is closed so the next call connects there).
 */
export async function ownServer(prefix: string): Promise<OwnServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  await chmod(dir, 0o755);
  let server = await embeddedStart({ dir });
  await migrate({ connectionString: server.url });
  process.env.WAYMARK_DATABASE_URL = server.url;
  await close();
  return {
    url: server.url,
    stop: () => server.stop(),
    async restart() {
      server = await embeddedStart({ dir });
      return server.url;
    },
    async remove() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
