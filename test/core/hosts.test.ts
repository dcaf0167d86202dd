import test from "ava";
import { getInstance, scheduleWorkflow, sendEvent, type WaymarkError } from "waymark";
import { TestEnvironment } from "waymark/testing";
import { loadConfig } from "../../config/env.js";
import { hostCount, hostEnter } from "../../core/hosts.js";
import { silentLogger } from "../../log/logger.js";
import { Supervisor } from "../../supervisor/supervisor.js";
import { Nightly, SleepsAWeek } from "../testing/fixtures/workflows.js";

/**
 * core/hosts.ts: a real supervisor and waymark/testing never share a process, and while a test
 * environment is open the SDK's own calls (which would reach a real database) refuse with a
 * message that says what to call instead. Serial: the registrations are the process's.
 */
const ID = "0197f000-0000-7000-8000-000000000000";

test.serial("with a TestEnvironment open, the SDK's database calls refuse and name the environment's", async (t) => {
  const env = await TestEnvironment.create();
  t.teardown(() => env.close());
  const refused = async (call: Promise<unknown>) => {
    const e = await t.throwsAsync<WaymarkError>(call);
    t.is(e?.code, "WAYMARK_TESTING");
    t.regex(e!.message, /while a TestEnvironment \(waymark\/testing\) is open in this process: start workflows with env\.start\(Workflow, args\)/);
  };
  await refused(new SleepsAWeek().run("x"));
  await refused(new SleepsAWeek().start(["x"]));
  await refused(getInstance(ID).status());
  await refused(sendEvent(ID, "approval", { ok: true }));
  await refused(scheduleWorkflow(Nightly, { scheduleName: "n", schedule: "0 3 * * *" }));
  await env.close();
  t.is(hostCount("testing"), 0);
});

test.serial("a supervisor refuses to start beside an open TestEnvironment, before it starts anything", async (t) => {
  const env = await TestEnvironment.create();
  t.teardown(() => env.close());
  const { config } = loadConfig({});
  const supervisor = new Supervisor({ config, log: silentLogger });
  const e = await t.throwsAsync<WaymarkError>(supervisor.start());
  t.is(e?.code, "WAYMARK_TESTING");
  t.regex(e!.message, /a waymark supervisor cannot start in this process: a TestEnvironment \(waymark\/testing\) is open here/);
  await supervisor.stop();
  t.is(hostCount("supervisor"), 0);
});

test.serial("a TestEnvironment refuses to open in a process that runs a supervisor, and opens once it has stopped", async (t) => {
  // What Supervisor.start() registers before it starts anything.
  const release = hostEnter("supervisor");
  t.teardown(release);
  const e = await t.throwsAsync<WaymarkError>(TestEnvironment.create());
  t.is(e?.code, "WAYMARK_TESTING");
  t.regex(e!.message, /TestEnvironment\.create\(\) cannot open an environment in this process: a waymark supervisor runs here/);
  release();
  release();
  const env = await TestEnvironment.create();
  t.is(await env.run(SleepsAWeek, ["after"]), "after woke");
  await env.close();
});
