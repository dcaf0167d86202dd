#!/usr/bin/env node
/**
 * The `waymark` command line.
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { ConfigError } from "../config/env.js";
import { isWaymarkError } from "../sdk/errors.js";
import { UsageError } from "./args.js";
import { instancesCommand } from "./instances.js";
import { migrateCommand } from "./migrate.js";
import { runCommand, visualizeCommand } from "./run.js";
import { schedulesCommand } from "./schedules.js";
import { statusCommand } from "./status.js";
import { benchCommand } from "./bench.js";
import { superviseCommand } from "./supervise.js";
import { webCommand } from "./web.js";

/** Prints a clear one-paragraph error (the stack only for unexpected errors) and exits. */
export function fail(e: unknown): never {
  if (e instanceof ConfigError) {
    process.stderr.write(`waymark: configuration error: ${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof UsageError) {
    process.stderr.write(`waymark: ${e.message}\n`);
    process.exit(2);
  }
  if (isWaymarkError(e)) {
    process.stderr.write(`waymark: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.stderr.write(`waymark: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
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
