import { trace } from "@opentelemetry/api";
import { action, workflow, Workflow } from "waymark";

export const lookUpUser = action(async function lookUpUser(email: string) {
  // Your own instrumentation nests under the action's span.
  return trace.getTracer("app").startActiveSpan("SELECT users", async (span) => {
    await new Promise((r) => setTimeout(r, 5));
    span.end();
    return { id: 42, email };
  });
});

export const sendWelcome = action(async function sendWelcome(user: { id: number; email: string }) {
  trace.getActiveSpan()?.addEvent("mail queued", { to: user.email });
  return `welcomed ${user.email}`;
});

@workflow
export class Signup extends Workflow {
  async run(email: string) {
    const user = await lookUpUser(email);
    return await sendWelcome(user);
  }
}
