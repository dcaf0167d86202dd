import type { Argv, CommandModule } from "yargs";
import { decode, type Encoded } from "../core/codec.js";
import { WaymarkError } from "../core/errors.js";
import { attemptList } from "../store/attempts.js";
import { instanceGet, instanceList, type InstanceStatus } from "../store/instances.js";
import { sharedClient } from "../sdk/client.js";
import { sendEvent } from "../sdk/handle.js";
import { childrenList, eventsPending, publishedList } from "../store/events.js";
import { slotWaitsOf } from "../store/slots.js";
import { workflowLogList } from "../store/logs.js";
import { LOG_RECORDS_KEPT } from "../core/limits.js";
import { countArg, instanceIdArg, nameArg } from "./args.js";
import { printJson, withDatabase } from "./connect.js";

const STATUSES = ["queued", "running", "sleeping", "completed", "failed", "cancelled"];

function show(v: Encoded | null): unknown {
  return v === null ? null : decode(v);
}

function ms(from: Date | null, to: Date | null): string {
  return from && to ? `${to.getTime() - from.getTime()} ms` : "";
}

const MAX_LIST = 100_000;

/** The log records `instances show` prints (the latest); `--json` gives all that are kept. */
const LOGS_SHOWN = 20;

const list: CommandModule<object, { status?: string; workflow?: string; limit: string; json: boolean }> = {
  command: "list",
  describe: "List instances, newest first",
  builder: (y) =>
    y
      .option("status", { choices: STATUSES, describe: "only instances in this status" })
      .option("workflow", { type: "string", describe: "only instances of this workflow" })
      .option("limit", { type: "string", default: "50", describe: `how many (1 to ${MAX_LIST})` })
      .option("json", { type: "boolean", default: false, describe: "one JSON object per line" }),
  handler: async (argv) => {
    const limit = countArg("limit", argv.limit, { min: 1, max: MAX_LIST });
    const workflow = argv.workflow === undefined ? undefined : nameArg("--workflow", argv.workflow);
    await withDatabase(async (db) => {
      const rows = await instanceList(db, { status: argv.status as InstanceStatus | undefined, workflow, limit });
      if (argv.json) {
        for (const r of rows)
          process.stdout.write(
            JSON.stringify({ id: r.id, workflow: r.workflowName, status: r.status, createdAt: r.createdAt, finishedAt: r.finishedAt }) + "\n",
          );
        return;
      }
      if (!rows.length) {
        process.stdout.write("no instances\n");
        return;
      }
      const lines = rows.map((r) => [r.id, r.workflowName, r.status, r.createdAt.toISOString(), ms(r.startedAt ?? r.createdAt, r.finishedAt)]);
      const head = ["ID", "WORKFLOW", "STATUS", "CREATED", "TOOK"];
      const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
      for (const l of [head, ...lines])
        process.stdout.write(
          l
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd() + "\n",
        );
    });
  },
};

const showCmd: CommandModule<object, { id: string; json: boolean }> = {
  command: "show <id>",
  describe:
    "Show an instance: arguments, status, result or error, published values, messages not yet taken, children, every action attempt, and its workflow's latest log records",
  builder: (y) => y.positional("id", { type: "string", demandOption: true }).option("json", { type: "boolean", default: false }),
  handler: async (argv) => {
    const id = instanceIdArg(argv.id);
    await withDatabase(async (db) => {
      const row = await instanceGet(db, { id });
      if (!row) throw new WaymarkError("WAYMARK_NOT_FOUND", `no workflow instance ${id}`);
      const [attempts, messages, published, children, limitWaits, logs] = await Promise.all([
        attemptList(db, { instanceId: id }),
        eventsPending(db, { id }),
        publishedList(db, { id }),
        childrenList(db, { id }),
        slotWaitsOf(db, { instanceId: id }),
        workflowLogList(db, { instanceId: id, limit: LOG_RECORDS_KEPT }),
      ]);
      const out = {
        id: row.id,
        workflow: row.workflowName,
        version: row.versionId,
        status: row.status,
        args: show(row.args),
        result: show(row.result),
        error: show(row.error),
        // Deaths in a row of the supervisor running it (WAYMARK_CRASH_LOOP_LIMIT fails it at the limit).
        ...(row.leaseLosses ? { supervisorDeaths: row.leaseLosses } : {}),
        ...(row.parentId ? { parent: row.parentId, detached: row.detached } : {}),
        createdAt: row.createdAt,
        startedAt: row.startedAt,
        finishedAt: row.finishedAt,
        // Messages in its mailboxes no wait has taken yet, its published values, its children.
        messages: messages.map((m) => ({
          position: m.position,
          event: m.childId ? null : m.name,
          child: m.childId,
          payload: show(m.payload),
          sentAt: m.createdAt,
        })),
        published: Object.fromEntries(published.map((p) => [p.key, show(p.value)])),
        children,
        // Calls waiting for their action's cluster-wide limit.
        waitingForLimits: limitWaits.map((w) => ({ action: w.action, key: w.key || null, blockedBy: w.blockedBy, since: w.since })),
        attempts: attempts.map((a) => ({
          action: a.actionName,
          actionId: a.actionSeq,
          attempt: a.attempt,
          node: a.nodeId,
          status: a.status,
          args: show(a.args),
          result: show(a.result),
          error: show(a.error),
          childPid: a.childPid,
          startedAt: a.startedAt,
          finishedAt: a.finishedAt,
          took: ms(a.startedAt, a.finishedAt),
          progress: show(a.progress),
        })),
        // Its workflow's log records (console.log in run()), oldest first: all that are kept.
        logs: logs.map((l) => ({ seq: l.seq, at: l.at, level: l.level, line: l.line, step: l.nodeId, message: l.message })),
      };
      if (argv.json) {
        process.stdout.write(printJson(out) + "\n");
        return;
      }
      const err = out.error as { name?: string; message?: string } | null;
      process.stdout.write(
        [
          `instance  ${out.id}`,
          `workflow  ${out.workflow} (version ${out.version})`,
          `status    ${out.status}`,
          `args      ${printJson(out.args, undefined)}`,
          ...(row.status === "completed" ? [`result    ${printJson(out.result, undefined)}`] : []),
          ...(err ? [`error     ${err.name}: ${err.message}`] : []),
          ...(row.leaseLosses
            ? [`deaths    its supervisor died ${row.leaseLosses} time(s) in a row while running it (failed at WAYMARK_CRASH_LOOP_LIMIT)`]
            : []),
          ...(row.parentId ? [`parent    ${row.parentId}${row.detached ? " (detached)" : ""}`] : []),
          `created   ${out.createdAt.toISOString()}${out.finishedAt ? `   finished ${out.finishedAt.toISOString()}` : ""}`,
          ...(published.length ? ["", "published:", ...published.map((p) => `  ${p.key} = ${printJson(show(p.value), undefined)}`)] : []),
          ...(messages.length
            ? [
                "",
                `messages not yet taken (${messages.length}):`,
                ...out.messages.map((m) => `  #${m.position} ${m.child ? `end of child ${m.child}` : m.event}  ${printJson(m.payload, undefined)}`),
              ]
            : []),
          ...limitWaits.map(
            (w) =>
              `waiting   for the ${w.blockedBy === "rate" ? "rate" : "concurrency"} limit of ${w.action}${w.key ? `, key ${w.key}` : ""}, since ${w.since.toISOString()}`,
          ),
          ...(children.length
            ? ["", `children (${children.length}):`, ...children.map((c) => `  ${c.instanceId}  ${c.workflow}  ${c.status}${c.detached ? "  detached" : ""}`)]
            : []),
          "",
          `attempts (${attempts.length}):`,
          ...out.attempts.map((a) => {
            const e = a.error as { name?: string; message?: string } | null;
            const outcome = a.status === "completed" ? `-> ${printJson(a.result, undefined)}` : e ? `-> ${e.name}: ${e.message}` : "";
            const p = a.progress as { percent?: number; message?: string; data?: unknown } | null;
            const progress = p
              ? `\n      progress ${[p.percent !== undefined ? `${Math.round(p.percent)}%` : "", p.message ?? "", p.data !== undefined ? JSON.stringify(p.data) : ""].filter(Boolean).join("  ")}`
              : "";
            return `  #${a.actionId} ${a.action} attempt ${a.attempt}  ${a.status}  ${a.took}  pid ${a.childPid ?? "-"}\n      args ${printJson(a.args, undefined)} ${outcome}${progress}`;
          }),
          ...(logs.length
            ? [
                "",
                `logs (${logs.length > LOGS_SHOWN ? `the last ${LOGS_SHOWN} of ${logs.length}; --json for all` : logs.length}):`,
                ...logs
                  .slice(-LOGS_SHOWN)
                  .map((l) => `  ${l.at.toISOString()} ${l.level.toUpperCase().padEnd(5)} line ${l.line}  ${l.message.replace(/\n/g, "\n      ")}`),
              ]
            : []),
        ].join("\n") + "\n",
      );
    });
  },
};

const cancel: CommandModule<object, { id: string }> = {
  command: "cancel <id>",
  describe: "Cancel an instance (queued or sleeping: at once; running: its actions are aborted)",
  builder: (y) => y.positional("id", { type: "string", demandOption: true }),
  handler: async (argv) => {
    const id = instanceIdArg(argv.id);
    await withDatabase(async (db) => {
      const row = await instanceGet(db, { id });
      if (!row) throw new WaymarkError("WAYMARK_NOT_FOUND", `no workflow instance ${id}`);
      const client = await sharedClient();
      const before = await client.cancel(id, row.workflowName);
      process.stdout.write(
        before === "running"
          ? `cancellation requested: ${id} is running; its supervisor aborts it\n`
          : before === "queued" || before === "sleeping"
            ? `cancelled ${id} (it was ${before})\n`
            : `${id} had already finished (${before}); nothing changed\n`,
      );
    });
  },
};

const send: CommandModule<object, { id: string; name: string; data?: string; key?: string }> = {
  command: "send <id> <name>",
  describe: "Send an event to an instance: the oldest waitForEvent(<name>) takes it (or the next one to wait)",
  builder: (y) =>
    y
      .positional("id", { type: "string", demandOption: true })
      .positional("name", { type: "string", demandOption: true, describe: "the event name" })
      .option("data", { type: "string", describe: "the payload, as JSON (default: no payload)" })
      .option("key", { type: "string", describe: "an idempotency key: a second send with it stores nothing" }),
  handler: async (argv) => {
    const id = instanceIdArg(argv.id);
    let payload: unknown;
    if (argv.data !== undefined) {
      try {
        payload = JSON.parse(argv.data);
      } catch (e) {
        throw new WaymarkError("WAYMARK_CONFIG", `--data must be JSON (quote it for the shell: --data '{"approved": true}'): ${(e as Error).message}`);
      }
    }
    await withDatabase(() => sendEvent(id, argv.name, payload, argv.key === undefined ? {} : { idempotencyKey: argv.key }));
    process.stdout.write(`sent ${argv.name} to ${id}\n`);
  },
};

export const instancesCommand: CommandModule = {
  command: "instances <command>",
  describe: "Inspect workflow instances",
  builder: (y: Argv) => y.command(list).command(showCmd).command(cancel).command(send).demandCommand(1),
  handler: () => undefined,
};
