import test from "ava";
import { ActionTimeout, close, isWaymarkError, SerializationError, WorkflowFailedError } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise, type SupervisorProcess } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);
const FIXTURE = "test/fixtures/workflows/basic.ts";
let sup: SupervisorProcess;
let W: typeof import("../fixtures/workflows/basic.js");

test.before(async () => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  sup = await supervise({ databaseUrl: await dbUrl(), modules: [FIXTURE] });
  W = await import("../fixtures/workflows/basic.js");
});

test.after.always(async () => {
  await close();
  await sup?.stop();
});

test("greet(name) returns hello <name>", async (t) => {
  t.is(await new W.GreetWorkflow().run("ada"), "hello ada");
});

test("fetch -> transform -> format passes Dates, Sets and objects between actions", async (t) => {
  t.is(await new W.PipelineWorkflow().run(7), "7:RECORD-7:a+b:2024");
});

test("upper -> reverse -> decorate -> build", async (t) => {
  t.deepEqual(await new W.StringsWorkflow().run("abc"), { text: "abc | ABC | CBA | *CBA*", length: 4 });
});

test("a throwing action fails the instance and run() rejects with WorkflowFailedError", async (t) => {
  const e = await t.throwsAsync(new W.ChargeWorkflow().run(500), { instanceOf: WorkflowFailedError });
  t.is(e!.errorName, "PaymentDeclined");
  t.is(e!.errorMessage, "card declined for 500 cents");
  t.is(e!.code, "WAYMARK_WORKFLOW_FAILED");
  t.true(isWaymarkError(e));
  t.regex(e!.instanceId, /^[0-9a-f-]{36}$/);
  // The action's own fields and stack travel with it.
  const cause = e!.cause as Error & { cents?: number };
  t.is(cause.cents, 500);
  t.regex(cause.stack ?? "", /basic\.ts/);
});

test("start() returns a handle with instanceId, status() and result()", async (t) => {
  const handle = await new W.GreetWorkflow().start(["bob"]);
  t.regex(handle.instanceId, /^[0-9a-f-]{36}$/);
  t.is(await handle.result(), "hello bob");
  t.is(await handle.status(), "completed");
});

test("a value that cannot be stored fails before anything is queued, naming the argument", async (t) => {
  class Point {
    constructor(readonly x: number) {}
  }
  const e = await t.throwsAsync(new W.GreetWorkflow().run(new Point(1) as unknown as string), { instanceOf: SerializationError });
  t.regex(e!.message, /argument 1 of workflow GreetWorkflow/);
  t.regex(e!.message, /instance of Point/);
  const f = await t.throwsAsync(new W.GreetWorkflow().run({ cb: () => 1 } as unknown as string), { instanceOf: SerializationError });
  t.regex(f!.message, /argument 1 of workflow GreetWorkflow\.cb/);
});

test("the workflow() call form with a stable name runs like a decorated class", async (t) => {
  const handle = await new W.CallFormWorkflow().start(["cy"]);
  t.is(handle.workflowName, "call-form");
  t.is(await handle.result(), "hello cy (call form)");
});

test("ActionTimeout is exported with its name", (t) => {
  t.is(new ActionTimeout("x").name, "ActionTimeout");
});
