/**
 * The welcome-email example: fetch users, keep the active ones, email them in parallel, and
 * report what happened to each. Start the workers with `npm start`, then run `npm run example`.
 */
import { action, workflow, Workflow } from "waymark";

export interface User {
  id: string;
  name: string;
  email: string;
  active: boolean;
}

const USERS: Record<string, User> = {
  u1: { id: "u1", name: "Ada", email: "ada@example.com", active: true },
  u2: { id: "u2", name: "Brendan", email: "brendan@example.com", active: false },
  u3: { id: "u3", name: "Grace", email: "grace@example.com", active: true },
  u4: { id: "u4", name: "Linus", email: "linus@invalid", active: true },
};

/** An action: real work (a database query here), run in a worker process, retried on its own. */
export const fetchUsers = action(async function fetchUsers(ids: string[]): Promise<User[]> {
  return ids.map((id) => USERS[id]).filter((u): u is User => u !== undefined);
});

export class BounceError extends Error {
  constructor(readonly address: string) {
    super(`${address} bounced`);
    this.name = "BounceError";
  }
}

export const sendEmail = action(async function sendEmail(to: string, subject: string): Promise<{ to: string; messageId: string }> {
  await new Promise((resolve) => setTimeout(resolve, 50)); // the mail provider's latency
  if (to.endsWith("@invalid")) throw new BounceError(to);
  return { to, messageId: `msg-${subject.length}-${to.split("@")[0]}` };
});

/** The workflow: ordinary TypeScript, compiled once into a durable graph. */
@workflow
export class WelcomeEmailWorkflow extends Workflow {
  async run(userIds: string[]) {
    const users = await fetchUsers(userIds);
    const active = users.filter((u) => u.active);
    const results = await Promise.allSettled(active.map((u) => sendEmail(u.email, `Welcome, ${u.name}!`)));
    return results.map((r, i) =>
      r.status === "fulfilled" ? { user: active[i]!.id, sent: r.value.messageId } : { user: active[i]!.id, error: (r.reason as Error).message },
    );
  }
}
