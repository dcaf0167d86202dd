/**
 * The welcome workflow tested with node:test, in waymark/testing's environment: its actions run
 * in this process (the real ones, or mocks). Run it with
 *
 *   node --import waymark/register --test examples/welcome/workflows.test.ts
 *
 * (in this repository: node --import ./dist/loader/register.js --test examples/welcome/workflows.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestEnvironment } from "waymark/testing";
import { sendEmail, WelcomeEmailWorkflow } from "./workflows.js";

test("welcomes the active users, in parallel, and reports the bounce", async () => {
  const env = await TestEnvironment.create();
  try {
    const results = await env.run(WelcomeEmailWorkflow, [["u1", "u2", "u3", "u4"]]);
    assert.deepEqual(results, [
      { user: "u1", sent: "msg-13-ada" },
      { user: "u3", sent: "msg-15-grace" },
      { user: "u4", error: "linus@invalid bounced" },
    ]);
    assert.deepEqual(
      env.calls(sendEmail).map((c) => [c.args[0], c.outcome.status]),
      [
        ["ada@example.com", "completed"],
        ["grace@example.com", "completed"],
        ["linus@invalid", "failed"],
      ],
    );
  } finally {
    await env.close();
  }
});

test("with the mail provider down, every user is reported, none welcomed", async () => {
  const env = await TestEnvironment.create();
  try {
    env.mockAction(sendEmail, async () => {
      throw new Error("provider down");
    });
    const results = await env.run(WelcomeEmailWorkflow, [["u1", "u3"]]);
    assert.deepEqual(results, [
      { user: "u1", error: "provider down" },
      { user: "u3", error: "provider down" },
    ]);
  } finally {
    await env.close();
  }
});
