/**
 * The welcome workflow tested with ava, in waymark/testing's environment. Run it with `npx ava
 * examples/welcome/workflows.ava.ts` (ava's config loads waymark/register for TypeScript).
 */
import test from "ava";
import { TestEnvironment } from "waymark/testing";
import { fetchUsers, sendEmail, WelcomeEmailWorkflow } from "./workflows.js";

test("welcomes the active users and reports the bounce", async (t) => {
  const env = await TestEnvironment.create();
  t.teardown(() => env.close());
  const results = await env.run(WelcomeEmailWorkflow, [["u1", "u2", "u3", "u4"]]);
  t.deepEqual(results, [
    { user: "u1", sent: "msg-13-ada" },
    { user: "u3", sent: "msg-15-grace" },
    { user: "u4", error: "linus@invalid bounced" },
  ]);
});

test("users come from the mocked directory; inactive ones get no email", async (t) => {
  const env = await TestEnvironment.create();
  t.teardown(() => env.close());
  env.mockAction(fetchUsers, async (ids) => ids.map((id, i) => ({ id, name: `N${id}`, email: `${id}@example.com`, active: i % 2 === 0 })));
  env.mockAction(sendEmail, async (to) => ({ to, messageId: `m-${to}` }));
  const results = await env.run(WelcomeEmailWorkflow, [["a", "b", "c"]]);
  t.deepEqual(results, [
    { user: "a", sent: "m-a@example.com" },
    { user: "c", sent: "m-c@example.com" },
  ]);
  t.deepEqual(
    env.calls(sendEmail).map((c) => c.args),
    [
      ["a@example.com", "Welcome, Na!"],
      ["c@example.com", "Welcome, Nc!"],
    ],
  );
});
