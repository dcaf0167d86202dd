#!/usr/bin/env node
/**
 * The `waymark` executable: every command registered with yargs, and `fail`, the one place an
 * error becomes what the user sees: one paragraph on stderr with passwords redacted (the stack
 * only for an unexpected error), exit code 2 for configuration and usage errors, 1 otherwise.
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { ConfigError, loadConfig } from "../config/env.js";
import { redactText } from "../log/redact.js";
import { databaseUnreachable } from "../store/db.js";
import { isWaymarkError } from "../core/errors.js";
import { UsageError } from "./args.js";
import { instancesCommand } from "./instances.js";
import { migrateCommand } from "./migrate.js";
import { runCommand, visualizeCommand } from "./run.js";
import { schedulesCommand } from "./schedules.js";
import { statusCommand } from "./status.js";
import { benchCommand } from "./bench.js";
import { superviseCommand } from "./supervise.js";
import { webCommand } from "./web.js";

/** The database a command used, for an error that did not say: WAYMARK_DATABASE_URL or the embedded one. */
function configuredDatabase(): { url: string; source: "WAYMARK_DATABASE_URL" | "embedded" } {
  try {
    const url = loadConfig().config.databaseUrl;
    if (url) return { url, source: "WAYMARK_DATABASE_URL" };
  } catch {
    // a configuration error would have been reported as such
  }
  return { url: "", source: "embedded" };
}

/**
 * Prints a clear one-paragraph error (the stack only for unexpected errors) and exits. A
 * database that cannot be reached is one line that names it and the cause. No password is
 * printed, wherever a connection string turns up.
 */
export function fail(e: unknown): never {
  const write = (text: string) => process.stderr.write(`waymark: ${redactText(text)}\n`);
  if (e instanceof ConfigError) {
    write(`configuration error: ${e.message}`);
    process.exit(2);
  }
  if (e instanceof UsageError) {
    process.stderr.write(`waymark: ${e.message}\n`);
    process.exit(2);
  }
  if (isWaymarkError(e)) {
    write((e as Error).message);
    process.exit(1);
  }
  const unreachable = databaseUnreachable({ ...configuredDatabase(), error: e });
  if (unreachable) {
    write(unreachable.message);
    process.exit(1);
  }
  write(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
}

await yargs(hideBin(process.argv))
  .scriptName("waymark")
  .usage("$0 <command>\n\nDurable workflows for Node.js on Postgres.")
  .command(superviseCommand)
  .command(migrateCommand)
  .command(runCommand)
  .command(visualizeCommand)
  .command(instancesCommand)
  .command(schedulesCommand)
  .command(statusCommand)
  .command(benchCommand)
  .command(webCommand)
  .demandCommand(1, "Give a command: waymark supervise, waymark run, waymark instances list, ... (waymark --help lists them)")
  .strict()
  .recommendCommands()
  .fail((msg, err, y) => {
    if (err) fail(err);
    process.stderr.write(`${y.help().toString()}\n\nwaymark: ${msg}\n`);
    process.exit(2);
  })
  .help()
  .version()
  .parseAsync()
  .catch(fail);
