/**
 * `waymark migrate`: applies the numbered migrations (store/migrate.ts) to the configured
 * database and exits. `waymark supervise` and `waymark web` also migrate at start-up, so this is
 * for deploys that migrate first; runs at the same time queue on an advisory lock.
 */
import type { CommandModule } from "yargs";
import { loadConfig } from "../config/env.js";
import { createLogger } from "../log/logger.js";
import { sharedClient, closeClient } from "../sdk/client.js";
import { databaseUnreachable } from "../store/db.js";
import { migrate } from "../store/migrate.js";

export const migrateCommand: CommandModule = {
  command: "migrate",
  describe: "Apply waymark's database migrations (waymark supervise also does this at start-up)",
  handler: async () => {
    const { config } = loadConfig();
    const log = createLogger({ level: config.logLevel, format: config.logFormat, component: "migrate" });
    const client = await sharedClient();
    try {
      const { applied } = await migrate({ connectionString: client.connectionString, log }).catch((e: unknown) => {
        throw databaseUnreachable({ url: client.connectionString, source: client.source, error: e }) ?? e;
      });
      process.stdout.write(applied.length ? `applied migrations ${applied.join(", ")}\n` : "the schema is up to date\n");
    } finally {
      await closeClient();
    }
  },
};
