/**
 * `waymark web`: the web app on its own, against the same database as the supervisors
 * (WAYMARK_DATABASE_URL, or the embedded server of this directory). Migrates first, serves
 * until SIGINT/SIGTERM. A non-loopback address without a token is refused before anything
 * connects, unless --insecure (or WAYMARK_WEBAPP_INSECURE) accepts the risk.
 */
import type { CommandModule } from "yargs";
import { ConfigError, loadConfig } from "../config/env.js";
import { createLogger } from "../log/logger.js";
import { closeClient, sharedClient } from "../sdk/client.js";
import { exposureCheck } from "../web/security.js";
import { WebServer } from "../web/server.js";

export const webCommand: CommandModule<object, { addr?: string; insecure?: boolean }> = {
  command: "web",
  describe: "Serve the web app (instances, schedules, workers, workflow graphs) on WAYMARK_WEBAPP_ADDR, against the database",
  builder: (y) =>
    y.option("addr", { type: "string", describe: "host:port to listen on (overrides WAYMARK_WEBAPP_ADDR; default 127.0.0.1:24119)" }).option("insecure", {
      type: "boolean",
      describe:
        "serve a non-loopback address without WAYMARK_WEBAPP_TOKEN: anyone who can reach it can read and cancel everything (as WAYMARK_WEBAPP_INSECURE=true)",
    }),
  handler: async (argv) => {
    const { config, warnings } = loadConfig();
    if (argv.addr !== undefined) {
      if (!/^(\[[^\]]+\]|[^:]+):(\d+)$/.test(argv.addr.trim()))
        throw new ConfigError(`--addr ${JSON.stringify(argv.addr)} is not a host:port address, e.g. 127.0.0.1:24119`);
      config.webappAddr = argv.addr.trim();
    }
    if (argv.insecure !== undefined) config.webappInsecure = argv.insecure;
    exposureCheck({ addr: config.webappAddr, token: config.webappToken, insecure: config.webappInsecure });
    const log = createLogger({ level: config.logLevel, format: config.logFormat, component: "web" });
    for (const w of warnings) log.warn(w);
    const client = await sharedClient();
    await client.ready();
    const server = new WebServer({ db: client.pool, config, log });
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) process.exit(130);
      log.info("signal received: stopping", { signal });
      void server
        .stop()
        .then(() => closeClient())
        .then(
          () => process.exit(0),
          (e: unknown) => {
            log.error("stopping failed", { error: e });
            process.exit(1);
          },
        );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    await server.start();
    log.info("waymark web is running", { url: server.url });
  },
};
