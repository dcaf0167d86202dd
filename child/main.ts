/**
 * The entry of an action child process, forked by `waymark supervise`. It loads the user
 * modules (which register actions), reports ready, then runs the tasks it is sent with
 * WAYMARK_CONCURRENT_PER_WORKER concurrency. It never opens a database connection.
 */
import { loadConfig } from "../config/env.js";
import { registerTypeScriptLoader } from "../loader/index.js";
import { actionLimitsByName, actionRegistry } from "../sdk/action.js";
import { DEFAULT_MAX_VALUE_BYTES, errorToData } from "../core/codec.js";
import { compileLazily, workflowRegistry } from "../sdk/definition.js";
import { userModulesLoad } from "./modules.js";
import { CHILD_CONCURRENCY_ENV, CHILD_INSPECT_ENV, CHILD_ENV, CHILD_MAX_VALUE_BYTES_ENV, CHILD_MODULES_ENV, type FromChild, type ToChild } from "./protocol.js";
import { TaskRunner } from "./runner.js";

if (typeof process.send !== "function" || process.env[CHILD_ENV] !== "1") {
  process.stderr.write(
    "waymark: child/main.js runs actions for `waymark supervise`, which forks it with an IPC channel; it cannot run on its own. Start the worker pool with `waymark supervise`.\n",
  );
  process.exit(2);
}

const send = (msg: FromChild) => {
  if (process.connected) process.send!(msg);
};

/** Exits once `msg` is written to the channel: a process.exit right after a send drops a message still in the pipe. */
const sendThenExit = (msg: FromChild, code: number) => {
  if (process.connected) process.send!(msg, () => process.exit(code));
  else process.exit(code);
};

async function main(): Promise<void> {
  // Action children only run actions: the inspecting process compiles (and so checks) the workflows.
  const inspect = process.env[CHILD_INSPECT_ENV] === "1";
  // The app's telemetry set-up (an OpenTelemetry SDK) first, so that action spans are recorded.
  const telemetry = inspect ? undefined : loadConfig().config.telemetryModule;
  const modules = [...(telemetry ? [telemetry] : []), ...(JSON.parse(process.env[CHILD_MODULES_ENV] ?? "[]") as string[])];
  compileLazily(!inspect);
  // The module hooks cost a worker thread and ~70 ms per child: only TypeScript needs them.
  if (modules.some((m) => /\.(c|m)?tsx?$/.test(m))) registerTypeScriptLoader();
  try {
    // The supervisor validated the same environment before forking this child.
    await userModulesLoad(modules, { timeoutMs: loadConfig().config.userModuleLoadTimeoutMs });
  } catch (e) {
    // Exit even if the module left a timer or a socket open.
    sendThenExit({ t: "load-error", module: (e as { waymarkModule?: string }).waymarkModule ?? "?", error: errorToData(e) }, 1);
    return;
  }
  if (inspect) {
    sendThenExit(
      {
        t: "ready",
        pid: process.pid,
        actions: [...actionRegistry().keys()],
        limits: actionLimitsByName(),
        workflows: [...workflowRegistry().values()].map((d) => ({
          name: d.name,
          hash: d.compiled.hash,
          ir: d.compiled.ir,
          file: d.compiled.source.file,
          line: d.compiled.source.line,
        })),
      },
      0,
    );
    return;
  }
  const concurrency = Number(process.env[CHILD_CONCURRENCY_ENV] ?? "10");
  const maxValueBytes = Number(process.env[CHILD_MAX_VALUE_BYTES_ENV] ?? DEFAULT_MAX_VALUE_BYTES);
  const runner = new TaskRunner(
    concurrency,
    (results) => send({ t: "results", results }),
    maxValueBytes,
    (items) => send({ t: "progress", items }),
  );
  process.on("message", (msg: ToChild) => {
    switch (msg.t) {
      case "run":
        runner.run(msg.tasks);
        break;
      case "abort":
        runner.abort(msg.ids, msg.reason);
        break;
      case "retire":
        // The last results must reach the supervisor (a dropped large result would count a
        // finished action as lost, and run it again): "retired" goes after them.
        void runner.drain().then(() => sendThenExit({ t: "retired" }, 0));
        break;
    }
  });
  // The supervisor is gone: nobody will read our results.
  process.on("disconnect", () => process.exit(0));
  send({ t: "ready", pid: process.pid, actions: [...actionRegistry().keys()], workflows: [] });
}

void main();
