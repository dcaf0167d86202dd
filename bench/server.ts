import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { embeddedCrash, embeddedStart, type EmbeddedServer } from "../embedded/server.js";

/**
 * An embedded PostgreSQL of the caller's own, in a fresh temp dir: stopping or crashing it
 * disturbs nobody else. The bench, the chaos soak and the fault tests use it.
 */
export interface PrivateServer {
  /** The connection string; `restart()` keeps it (same data, same port). */
  url: string;
  dir: string;
  /** A fast shutdown (SIGINT: open transactions aborted, a checkpoint). */
  stop(): Promise<void>;
  /** Immediate mode, as a crash: no checkpoint, crash recovery at the next start. */
  crash(): Promise<void>;
  /** Starts it again on the same data; resolves with its URL once it accepts connections. */
  restart(): Promise<string>;
  /** Stops it and deletes its directory. */
  remove(): Promise<void>;
}

export async function privateServer(params: { prefix?: string; settings?: Record<string, string> } = {}): Promise<PrivateServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), params.prefix ?? "waymark-pg-"));
  await chmod(dir, 0o755); // as root, the postgres user must be able to enter it
  let server: EmbeddedServer = await embeddedStart({ dir, settings: params.settings });
  return {
    url: server.url,
    dir,
    stop: () => server.stop(),
    async crash() {
      await embeddedCrash(dir);
      await server.stop(); // only our registration is left to clear: the server is gone
    },
    async restart() {
      server = await embeddedStart({ dir, settings: params.settings });
      return server.url;
    },
    async remove() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
