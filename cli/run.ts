/**
 * `waymark run` and `waymark visualize`: both import the user's module in this process (the
 * TypeScript loader registered first, the import bounded by WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS)
 * and find the workflow by export name or workflow name. `run` then queues one instance through
 * the SDK and waits for its result, so it finishes only if a supervisor is running.
 */
import type { CommandModule } from "yargs";
import { userModuleImport } from "../child/modules.js";
import { loadConfig } from "../config/env.js";
import type { VisualizeFormat } from "../compiler/visualize.js";
import { registerTypeScriptLoader } from "../loader/index.js";
import { closeClient } from "../sdk/client.js";
import { DEFINITION, workflowRegistry } from "../sdk/definition.js";
import { RegistrationError } from "../core/errors.js";
import type { Workflow } from "../sdk/workflow.js";
import { printJson } from "./connect.js";

type WorkflowClass = (new () => Workflow) & { visualize(format?: VisualizeFormat): string };

/**
 * Imports a module (TypeScript included), within WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS, and finds a
 * workflow by export name or workflow name.
 */
async function loadWorkflow(module: string, name: string): Promise<WorkflowClass> {
  registerTypeScriptLoader();
  const exports = await userModuleImport(module, { timeoutMs: loadConfig().config.userModuleLoadTimeoutMs });
  const byExport = exports[name] as { [DEFINITION]?: unknown } | undefined;
  if (typeof byExport === "function" && byExport[DEFINITION]) return byExport as unknown as WorkflowClass;
  for (const value of Object.values(exports)) {
    const def = (value as { [DEFINITION]?: { name: string } } | undefined)?.[DEFINITION];
    if (typeof value === "function" && def?.name === name) return value as unknown as WorkflowClass;
  }
  const known = [...workflowRegistry().keys()];
  throw new RegistrationError(
    `${module} has no workflow named ${name}${known.length ? ` (workflows it defines: ${known.join(", ")})` : " (it defines no workflows)"}`,
  );
}

export const runCommand: CommandModule<object, { module: string; workflow: string; args: string }> = {
  command: "run <module> <workflow>",
  describe: "Queue a workflow instance, wait for it, and print its result as JSON",
  builder: (y) =>
    y
      .positional("module", { type: "string", demandOption: true, describe: "the module that defines the workflow (a path, .ts included, or a package name)" })
      .positional("workflow", { type: "string", demandOption: true, describe: "the workflow's export name or workflow name" })
      .option("args", { type: "string", default: "[]", describe: "the arguments, as a JSON array" }),
  handler: async (argv) => {
    let args: unknown;
    try {
      args = JSON.parse(argv.args);
    } catch (e) {
      throw new RegistrationError(`--args must be a JSON array, e.g. --args '["alice", 3]': ${(e as Error).message}`);
    }
    if (!Array.isArray(args)) throw new RegistrationError(`--args must be a JSON array, e.g. --args '["alice", 3]', got ${argv.args}`);
    const W = await loadWorkflow(argv.module, argv.workflow);
    try {
      const result = await (new W().run as (...a: unknown[]) => Promise<unknown>)(...args);
      process.stdout.write(`${result === undefined ? "null" : printJson(result)}\n`);
    } finally {
      await closeClient();
    }
  },
};

export const visualizeCommand: CommandModule<object, { module: string; workflow: string; format: string }> = {
  command: "visualize <module> <workflow>",
  describe: "Print a workflow's compiled graph (Mermaid, or Graphviz dot)",
  builder: (y) =>
    y
      .positional("module", { type: "string", demandOption: true })
      .positional("workflow", { type: "string", demandOption: true })
      .option("format", { choices: ["mermaid", "dot"], default: "mermaid" }),
  handler: async (argv) => {
    const W = await loadWorkflow(argv.module, argv.workflow);
    process.stdout.write(W.visualize(argv.format as VisualizeFormat));
  },
};
