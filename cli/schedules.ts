import type { Argv, CommandModule } from "yargs";
import { closeClient } from "../sdk/client.js";
import { deleteSchedule, listSchedules, pauseSchedule, resumeSchedule } from "../sdk/schedules.js";
import { nameArg } from "./args.js";
import { printJson } from "./connect.js";

const list: CommandModule<object, { status?: string; workflow?: string; json: boolean }> = {
  command: "list",
  describe: "List schedules: cadence, status, next and last run, last instance",
  builder: (y) =>
    y
      .option("status", { choices: ["active", "paused"], describe: "Only schedules with this status" })
      .option("workflow", { type: "string", describe: "Only this workflow's schedules" })
      .option("json", { type: "boolean", default: false, describe: "One JSON object per line" }),
  handler: async (argv) => {
    const workflow = argv.workflow === undefined ? undefined : nameArg("--workflow", argv.workflow);
    try {
      const rows = await listSchedules({ status: argv.status as "active" | "paused" | undefined, workflow });
      if (argv.json) {
        for (const r of rows) process.stdout.write(printJson(r, 0) + "\n");
        return;
      }
      if (!rows.length) {
        process.stdout.write("no schedules\n");
        return;
      }
      const lines = rows.map((r) => [
        r.workflowName,
        r.scheduleName,
        (typeof r.schedule === "string" ? `${r.schedule} (${r.timezone})` : `every ${r.schedule.everyMs} ms`) +
          (r.jitterMs ? ` + up to ${r.jitterMs} ms jitter` : ""),
        r.status,
        r.nextRunAt?.toISOString() ?? "-",
        r.lastRunAt?.toISOString() ?? "-",
        r.lastInstanceId ?? "-",
        [r.priority ? `priority ${r.priority}` : "", r.allowDuplicate ? "duplicates allowed" : ""].filter(Boolean).join(", ") || "-",
      ]);
      const head = ["WORKFLOW", "SCHEDULE", "CADENCE", "STATUS", "NEXT RUN", "LAST RUN", "LAST INSTANCE", "OPTIONS"];
      const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
      for (const l of [head, ...lines])
        process.stdout.write(
          l
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd() + "\n",
        );
    } finally {
      await closeClient();
    }
  },
};

function action(
  verb: "pause" | "resume" | "delete",
  describe: string,
  run: (w: string, s: string) => Promise<void>,
): CommandModule<object, { workflow: string; schedule: string }> {
  return {
    command: `${verb} <workflow> <schedule>`,
    describe,
    builder: (y) => y.positional("workflow", { type: "string", demandOption: true }).positional("schedule", { type: "string", demandOption: true }),
    handler: async (argv) => {
      nameArg("the workflow name", argv.workflow);
      nameArg("the schedule name", argv.schedule);
      try {
        await run(argv.workflow, argv.schedule);
        process.stdout.write(`${verb === "delete" ? "deleted" : verb === "pause" ? "paused" : "resumed"} ${argv.workflow}/${argv.schedule}\n`);
      } finally {
        await closeClient();
      }
    },
  };
}

export const schedulesCommand: CommandModule = {
  command: "schedules <command>",
  describe: "Manage scheduled workflows",
  builder: (y: Argv) =>
    y
      .command(list)
      .command(action("pause", "Stop firing a schedule (it is kept)", (w, s) => pauseSchedule(w, { scheduleName: s })))
      .command(action("resume", "Fire a paused schedule again, from now", (w, s) => resumeSchedule(w, { scheduleName: s })))
      .command(action("delete", "Remove a schedule", (w, s) => deleteSchedule(w, { scheduleName: s })))
      .demandCommand(1),
  handler: () => undefined,
};
