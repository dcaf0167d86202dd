import type { CommandModule } from "yargs";
import { slotsSummary } from "../store/slots.js";
import { workerStatusList } from "../store/workers.js";
import { printJson, withDatabase } from "./connect.js";

interface ChildStat {
  pid: number;
  slot: number;
  state: string;
  inflight: number;
  dispatched: number;
}

export const statusCommand: CommandModule<object, { json: boolean }> = {
  command: "status",
  describe:
    "Show every running supervisor and its children (throughput, in-flight work, recycles), and each limited action's running, waiting and recent starts",
  builder: (y) => y.option("json", { type: "boolean", default: false }),
  handler: async (argv) => {
    await withDatabase(async (db) => {
      const [rows, limited] = await Promise.all([workerStatusList(db), slotsSummary(db)]);
      if (argv.json) {
        for (const r of rows) process.stdout.write(printJson(r, undefined) + "\n");
        for (const l of limited)
          process.stdout.write(
            printJson({ limitedAction: l.action, running: l.running, waiting: l.waiting, startsInWindow: l.startsInWindow }, undefined) + "\n",
          );
        return;
      }
      // Cluster-wide, from the shared flow-control rows.
      const limits = limited.length
        ? `\nlimited actions (all supervisors):\n${limited.map((l) => `  ${l.action}  running ${l.running}  waiting ${l.waiting}  starts in the current window ${l.startsInWindow}`).join("\n")}\n`
        : "";
      if (!rows.length) {
        process.stdout.write(`no supervisor is running (no status row refreshed recently)\n${limits}`);
        return;
      }
      for (const r of rows) {
        const s = r.stats as Record<string, unknown>;
        const age = Math.round((Date.now() - r.updatedAt.getTime()) / 1000);
        process.stdout.write(
          `${r.owner}  (host ${r.hostname}, pid ${r.pid}, up since ${r.startedAt.toISOString()}, updated ${age}s ago)\n` +
            `  instances ${s.instances}  in-flight actions ${s.inflight}  completed ${s.completed}  failed ${s.failed}  actions ${s.actions} (${s.actionsPerSecond}/s)  claimed ${s.claimed}  recycled children ${s.recycled}  rss ${s.rssMb} MB\n`,
        );
        for (const c of (s.children as ChildStat[] | undefined) ?? []) {
          process.stdout.write(`    child pid ${c.pid}  slot ${c.slot}  ${c.state}  in-flight ${c.inflight}  actions run ${c.dispatched}\n`);
        }
      }
      process.stdout.write(limits);
    });
  },
};
