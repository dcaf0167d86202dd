/**
 * `waymark supervise`: one Supervisor from the WAYMARK_* configuration, stopped gracefully on
 * SIGINT/SIGTERM (a second signal exits at once). Workflow code runs in this process, so TZ is
 * set to UTC before the supervisor is made (a Date's local fields then agree on every
 * supervisor); the children keep the host's zone.
 */
import type { CommandModule } from "yargs";
import { loadConfig } from "../config/env.js";
import { createLogger } from "../log/logger.js";
import { databaseUnreachable } from "../store/db.js";
import { Supervisor } from "../supervisor/supervisor.js";
import { exposureCheck } from "../web/security.js";

export const superviseCommand: CommandModule = {
  command: "supervise",
  describe:
    "Run the worker pool: claim workflow instances from Postgres and run their actions in child processes (configured by WAYMARK_* environment variables)",
  handler: async () => {
    const { config, warnings } = loadConfig();
    // The web app's exposure is refused before anything starts (the web server checks it again).
    if (config.webappEnabled) exposureCheck({ addr: config.webappAddr, token: config.webappToken, insecure: config.webappInsecure });
    const log = createLogger({ level: config.logLevel, format: config.logFormat, component: "supervise" });
    for (const w of warnings) log.warn(w);
    // Workflow code runs in this process: in UTC on every supervisor, so a Date's local fields
    // (getHours, getDate, ...) give the same answer wherever an instance runs. Actions run in the
    // children with the host's own zone.
    const hostTz = process.env.TZ;
    process.env.TZ = "UTC";
    const supervisor = new Supervisor({ config, log, childEnv: { TZ: hostTz } });
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn("second signal: exiting now", { signal });
        process.exit(130);
      }
      log.info("signal received: shutting down gracefully (send it again to exit at once)", { signal });
      supervisor.stop().then(
        () => process.exit(0),
        (e: unknown) => {
          log.error("shutdown failed", { error: e });
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    await supervisor.start().catch((e: unknown) => {
      // A database that cannot be reached is one line naming it and the cause, not a stack.
      throw databaseUnreachable({ url: supervisor.connectionString, source: config.databaseUrl ? "WAYMARK_DATABASE_URL" : "embedded", error: e }) ?? e;
    });
  },
};
