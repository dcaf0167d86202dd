/**
 * What a process hosts that must not be mixed: a real supervisor (which runs workflows and
 * actions against Postgres) and waymark/testing's environments (which run them in memory, in this
 * process, on a virtual clock). Kept on globalThis, so every copy of the waymark module loaded in
 * one process (the built package and the sources, say) sees the same:
 *
 * - a supervisor refuses to start while a test environment is open, and a test environment
 *   refuses to open while a supervisor runs: both would run the same registered actions in one
 *   process, with two clocks and two stores;
 * - while a test environment is open, the SDK's connection to Postgres refuses too (sdk/client.ts):
 *   a `new Workflow().run()` written in a test by mistake would queue a real instance in whatever
 *   database the environment names, for a real supervisor to run.
 */
import { WaymarkError } from "./errors.js";

export type HostKind = "supervisor" | "testing";

const KEY = Symbol.for("waymark.hosts");

function counts(): Record<HostKind, number> {
  const g = globalThis as { [KEY]?: Record<HostKind, number> };
  return (g[KEY] ??= { supervisor: 0, testing: 0 });
}

const REFUSALS: Record<HostKind, string> = {
  supervisor:
    "a waymark supervisor cannot start in this process: a TestEnvironment (waymark/testing) is open here, and the two would run the same actions " +
    "in one process against two stores and two clocks. Close the environment first (await env.close()), or run the supervisor in a process of its own",
  testing:
    "TestEnvironment.create() cannot open an environment in this process: a waymark supervisor runs here, and the two would run the same actions " +
    "in one process against two stores and two clocks. Run your tests in a process without a supervisor (the test runner's own)",
};

/** How many of each kind this process hosts now. */
export function hostCount(kind: HostKind): number {
  return counts()[kind];
}

/**
 * Registers a supervisor or a test environment in this process, or throws a WaymarkError (code
 * WAYMARK_TESTING) saying why it cannot be mixed with what is here. Returns the release, safe to
 * call twice.
 */
export function hostEnter(kind: HostKind): () => void {
  const c = counts();
  const other: HostKind = kind === "supervisor" ? "testing" : "supervisor";
  if (c[other] > 0) throw new WaymarkError("WAYMARK_TESTING", REFUSALS[kind]);
  c[kind]++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    c[kind]--;
  };
}

/** The error the SDK's connection gives while a test environment is open in this process. */
export function testingRefusal(): WaymarkError {
  return new WaymarkError(
    "WAYMARK_TESTING",
    'waymark cannot connect to Postgres while a TestEnvironment (waymark/testing) is open in this process: start workflows with env.start(Workflow, args) or env.run(...), reach instances with env.getInstance(id), and schedule with env.scheduleWorkflow(...). `new Workflow().run()`, `start()`, `getInstance()`, `sendEvent()` and the schedule functions of "waymark" go to a real database, for a real supervisor to run',
  );
}
