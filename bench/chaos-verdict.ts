/**
 * The chaos soak's verdict, judged after the run from what was committed (the instance and
 * attempt rows, the step trigger's chaos.steps) and what the children logged: right results, none
 * lost, none completed twice, no process left behind, and every fault recovered from within the
 * limit. `report` prints it as tables, with a digest of the supervisors' warnings as a lead.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { decode, type Encoded } from "../core/codec.js";
import { query, type Proc } from "./chaos-cluster.js";
import type { FaultRecord } from "./chaos-faults.js";
import { FAULT_KINDS, type ChaosOptions, type FaultKind, type Plan } from "./chaos-plan.js";
import { expectedResult } from "./chaos-workflows.js";
import { median } from "./harness.js";

/** Everything the run observed; the verdict reads the database and the execution logs on top. */
export interface RunFacts {
  options: ChaosOptions;
  plan: Plan;
  faults: FaultRecord[];
  url: string;
  runDir: string;
  ttlMs: number;
  heartbeatMs: number;
  limitMs: number;
  startErrors: string[];
  /** Whether every instance finished within the bounded wait, and how long after the last start. */
  settled: boolean;
  settleMs: number;
  supervisorsStarted: number;
  stops: Array<{ pid: number; exitCode: number | undefined; ms: number; hung: boolean }>;
  orphans: Proc[];
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface Recovery {
  fault: FaultRecord;
  affected: number;
  /** ms from the fault (Postgres: from its return) until the first, and until every, affected instance moved on. */
  firstMs: number | undefined;
  allMs: number | undefined;
  ok: boolean;
}

export interface Verdict {
  pass: boolean;
  checks: Check[];
  recoveries: Recovery[];
  summary: Record<string, unknown>;
}

interface Exec {
  pid: number;
  start: number;
  end: number | undefined;
  instance: string;
  seq: string;
  attempt: number;
  name: string;
}

/** The S and E lines of every child, paired per (instance, call, attempt) within a child. */
function executions(dir: string): Exec[] {
  const out: Exec[] = [];
  for (const file of readdirSync(dir).filter((f) => /^exec-\d+\.log$/.test(f))) {
    const pid = Number(/\d+/.exec(file)![0]);
    const open = new Map<string, Exec[]>();
    for (const line of readFileSync(path.join(dir, file), "utf8").split("\n")) {
      const [kind, t, instance, seq, attempt, name] = line.split(" ");
      if (!instance || !seq) continue;
      const key = `${instance}/${seq}/${attempt}`;
      if (kind === "S") {
        const e: Exec = { pid, start: Number(t), end: undefined, instance, seq, attempt: Number(attempt), name: name ?? "?" };
        out.push(e);
        open.set(key, [...(open.get(key) ?? []), e]);
      } else if (kind === "E") {
        const e = open.get(key)?.shift();
        if (e) e.end = Number(t);
      }
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

interface Step {
  writer: string | null;
  newStatus: string;
  oldStatus: string;
  stateChanged: boolean;
  at: number;
}

const FINISHED = new Set(["completed", "failed", "cancelled"]);

/** When each affected instance moved on after a fault, and whether that was soon enough. */
function recoveryOf(f: FaultRecord, o: { steps: Map<string, Step[]>; finishedAt: Map<string, number>; execs: Exec[]; limitMs: number }): Recovery {
  const moved: number[] = [];
  let affected = 0;
  if (f.kind === "child-kill") {
    // The calls it was running: each must run again (a later attempt) and finish.
    for (const lost of o.execs.filter((e) => e.pid === f.pid && e.end === undefined && e.start <= f.at)) {
      affected++;
      const again = o.execs.find((e) => e.instance === lost.instance && e.seq === lost.seq && e.attempt > lost.attempt && e.end !== undefined && e.end >= f.at);
      moved.push(again ? again.end! - f.from : Infinity);
    }
  } else {
    // The instances running at the fault: each must have a step committed by a live supervisor.
    for (const id of f.instances) {
      if ((o.finishedAt.get(id) ?? Infinity) < f.from) continue;
      affected++;
      const step = (o.steps.get(id) ?? []).find(
        (s) => s.at >= f.from && s.writer !== f.owner && (s.stateChanged || (s.newStatus !== "running" && s.newStatus !== "queued")),
      );
      moved.push(step ? step.at - f.from : Infinity);
    }
  }
  const firstMs = moved.length ? Math.max(0, Math.round(Math.min(...moved))) : undefined;
  const allMs = moved.length ? Math.max(0, Math.round(Math.max(...moved))) : undefined;
  return { fault: f, affected, firstMs, allMs, ok: !f.error && (allMs === undefined || allMs <= o.limitMs) };
}

/**
 * The supervisors' warnings and errors, counted by message and by the error they carry
 * (`ERROR cannot resume instance: terminating connection ...`): not a check, a lead for one.
 */
function logDigest(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const file of readdirSync(dir).filter((f) => /^supervise-.*\.log$/.test(f))) {
    for (const line of readFileSync(path.join(dir, file), "utf8").split("\n")) {
      const m = /^\S+ (WARN|ERROR) +\[([^\]]+)\] (.*?)(?= [\w.]+=|$)(.*)$/.exec(line);
      if (!m) continue;
      const error = /error=(?:"((?:[^"\\]|\\.)*)"|(.*))/.exec(m[4]!);
      const key = `${m[1]} ${m[3]}${error ? `: ${(error[1] ?? error[2]!).slice(0, 80)}` : ""}`;
      out[key] = (out[key] ?? 0) + 1;
    }
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}

/**
 * Why a call ran again: a fault between the previous execution's start and this one's. A fault
 * counts until a second after recovery began: during a Postgres outage children go on starting
 * the actions they hold, and those results are lost if the instance's lease expired meanwhile.
 */
function reexecutionCauses(execs: Exec[], faults: FaultRecord[]): Record<string, number> {
  const byCall = new Map<string, Exec[]>();
  for (const e of execs) byCall.set(`${e.instance}/${e.seq}`, [...(byCall.get(`${e.instance}/${e.seq}`) ?? []), e]);
  const causes: Record<string, number> = {};
  for (const list of byCall.values()) {
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const inWindow = faults.filter((f) => !f.error && f.from + 1000 >= prev.start && f.at <= list[i]!.start);
      const killed = faults.find((f) => f.kind === "child-kill" && f.pid === prev.pid && prev.end === undefined);
      const cause = killed?.kind ?? inWindow.find((f) => f.kind !== "child-kill")?.kind ?? inWindow[0]?.kind ?? "no injected fault";
      causes[cause] = (causes[cause] ?? 0) + 1;
    }
  }
  return causes;
}

export async function judge(r: RunFacts): Promise<Verdict> {
  const checks: Check[] = [];
  const n = r.plan.instances.length;
  const rows = await query(
    r.url,
    "SELECT id::text AS id, idempotency_key AS key, status, result, (extract(epoch FROM finished_at) * 1000)::float8 AS finished FROM waymark.instances",
  );
  const stepRows = await query(
    r.url,
    "SELECT instance_id::text AS id, writer, old_status, new_status, state_changed, (extract(epoch FROM at) * 1000)::float8 AS at FROM chaos.steps ORDER BY at",
  );
  const [calls] = await query(
    r.url,
    `SELECT count(*)::int AS calls,
      count(*) FILTER (WHERE completed > 1)::int AS twice,
      coalesce(sum(attempts - 1), 0)::int AS retries
    FROM (SELECT count(*) FILTER (WHERE status = 'completed') AS completed, count(*) AS attempts FROM waymark.action_attempts GROUP BY instance_id, action_seq) c`,
  );
  const execs = executions(r.runDir);

  // Results: each completed instance's result, decoded, against the arithmetic done here.
  const byKey = new Map<string, typeof rows>();
  for (const row of rows) byKey.set(row.key, [...(byKey.get(row.key) ?? []), row]);
  const wrong: string[] = [];
  let right = 0;
  for (const p of r.plan.instances) {
    const row = byKey.get(p.args.key)?.[0];
    if (row?.status !== "completed") continue;
    if (isDeepStrictEqual(decode(row.result as Encoded), expectedResult(p.args))) right++;
    else wrong.push(`${p.args.key}: ${JSON.stringify(row.result)}`);
  }
  checks.push({
    name: "right results",
    ok: right === n,
    detail: `${right}/${n} completed with the result computed independently${wrong.length ? `; wrong: ${wrong.slice(0, 5).join("; ")}` : ""}`,
  });

  // Lost: every planned instance exists and completed.
  const statuses: Record<string, number> = {};
  for (const row of rows) statuses[row.status] = (statuses[row.status] ?? 0) + 1;
  const missing = r.plan.instances.filter((p) => !byKey.has(p.args.key)).map((p) => p.args.key);
  const unfinished = rows.filter((row) => row.status !== "completed").map((row) => `${row.key} ${row.status} (${row.id})`);
  checks.push({
    name: "none lost",
    ok: missing.length === 0 && unfinished.length === 0 && r.startErrors.length === 0,
    detail:
      `${statuses.completed ?? 0}/${n} completed${r.settled ? `, the last ${(r.settleMs / 1000).toFixed(1)} s after the window` : "; NOT all finished within the bounded wait"}` +
      `; statuses ${JSON.stringify(statuses)}` +
      (missing.length ? `; never queued: ${missing.slice(0, 5).join(", ")}` : "") +
      (unfinished.length ? `; not completed: ${unfinished.slice(0, 5).join(", ")}` : "") +
      (r.startErrors.length ? `; start errors: ${r.startErrors.slice(0, 3).join("; ")}` : ""),
  });

  // Completed once: one row per key, one transition to completed per instance, no write to a
  // finished row, at most one completed attempt per call; the final call ran for every instance.
  const steps = new Map<string, Step[]>();
  for (const s of stepRows)
    steps.set(s.id, [
      ...(steps.get(s.id) ?? []),
      { writer: s.writer, oldStatus: s.old_status, newStatus: s.new_status, stateChanged: s.state_changed, at: s.at },
    ]);
  const duplicateKeys = [...byKey.values()].filter((l) => l.length > 1).length;
  const completions = rows.map((row) => (steps.get(row.id) ?? []).filter((s) => s.newStatus === "completed" && s.oldStatus !== "completed").length);
  const notOnce = completions.filter((c, i) => rows[i]!.status === "completed" && c !== 1).length;
  const afterFinish = stepRows.filter((s) => FINISHED.has(s.old_status)).length;
  const finishes = execs.filter((e) => e.name === "finish");
  const finishedInstances = new Set(finishes.map((e) => e.instance)).size;
  checks.push({
    name: "none completed twice",
    ok: duplicateKeys === 0 && notOnce === 0 && afterFinish === 0 && calls!.twice === 0 && finishedInstances === (statuses.completed ?? 0),
    detail:
      `${rows.length} instance rows for ${byKey.size} keys (${duplicateKeys} keys with two); ${notOnce} instances not completed exactly once and ${afterFinish} writes to finished rows (per the trigger); ` +
      `${calls!.twice} of ${calls!.calls} calls with two completed attempts; the final action ran ${finishes.length} times for ${finishedInstances} instances`,
  });

  const stopped = r.stops.filter((s) => s.exitCode === 0 && !s.hung).length;
  checks.push({
    name: "no orphans",
    ok: r.orphans.length === 0 && stopped === r.stops.length,
    detail:
      `${r.orphans.length} processes of the run left after every supervisor stopped${r.orphans.length ? `: ${r.orphans.map((p) => `${p.pid} (parent ${p.ppid}) ${p.cmdline}`).join("; ")}` : ""}; ` +
      `${stopped}/${r.stops.length} supervisors stopped by SIGTERM with exit 0 (slowest ${Math.max(0, ...r.stops.map((s) => s.ms))} ms)`,
  });

  const finishedAt = new Map(rows.filter((row) => row.finished !== null).map((row) => [row.id as string, row.finished as number]));
  const recoveries = r.faults.map((f) => recoveryOf(f, { steps, finishedAt, execs, limitMs: r.limitMs }));
  const slow = recoveries.filter((x) => !x.ok);
  checks.push({
    name: "recovery",
    ok: slow.length === 0 && r.faults.length === r.plan.faults.length,
    detail: `${recoveries.length - slow.length}/${recoveries.length} faults injected and recovered within ${r.limitMs} ms (WAYMARK_LOCK_TTL_MS ${r.ttlMs} + margin ${r.limitMs - r.ttlMs})`,
  });

  const byKind = Object.fromEntries(
    FAULT_KINDS.map((k) => {
      const of = recoveries.filter((x) => x.fault.kind === k && x.allMs !== undefined);
      const all = of.map((x) => x.allMs!);
      return [
        k,
        {
          injected: r.faults.filter((f) => f.kind === k && !f.error).length,
          max_ms: all.length ? Math.max(...all) : null,
          median_ms: all.length ? median(all) : null,
        },
      ];
    }),
  ) as Record<FaultKind, { injected: number; max_ms: number | null; median_ms: number | null }>;
  const pass = checks.every((c) => c.ok);
  const summary = {
    scenario: "chaos",
    pass,
    seed: r.options.seed,
    instances: n,
    completed: statuses.completed ?? 0,
    supervisors: r.options.supervisors,
    supervisors_started: r.supervisorsStarted,
    duration_s: r.options.durationS,
    ttl_ms: r.ttlMs,
    heartbeat_ms: r.heartbeatMs,
    limit_ms: r.limitMs,
    faults: byKind,
    recoveries: recoveries.map((x) => {
      const ms = (v: number | undefined) => (v === Infinity ? "never" : (v ?? null));
      return {
        kind: x.fault.kind,
        at_s: +(x.fault.atMs / 1000).toFixed(1),
        affected: x.affected,
        first_ms: ms(x.firstMs),
        all_ms: ms(x.allMs),
        detail: x.fault.detail,
        error: x.fault.error,
      };
    }),
    executions: execs.length,
    calls: calls!.calls,
    retried_attempts: calls!.retries,
    re_executions: reexecutionCauses(execs, r.faults),
    supervisor_log: logDigest(r.runDir),
    checks: Object.fromEntries(checks.map((c) => [c.name, c.ok])),
  };
  return { pass, checks, recoveries, summary };
}

/** The verdict as tables: the faults with their recovery, then the checks. */
export function report(v: Verdict): string {
  const table = (rows: string[][]) => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
    return rows
      .map(
        (r) =>
          "  " +
          r
            .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
            .join("  ")
            .trimEnd(),
      )
      .join("\n");
  };
  const ms = (x: number | undefined) => (x === undefined ? "-" : x === Infinity ? "never" : `${x}`);
  const faults = [
    ["fault", "at (s)", "affected", "first (ms)", "all (ms)", "ok", "detail"],
    ...v.recoveries.map((x) => [
      x.fault.kind,
      (x.fault.atMs / 1000).toFixed(1),
      String(x.affected),
      ms(x.firstMs),
      ms(x.allMs),
      x.ok ? "ok" : "FAIL",
      x.fault.error ? `NOT INJECTED: ${x.fault.error}` : x.fault.detail,
    ]),
  ];
  const checks = [["check", "", "detail"], ...v.checks.map((c) => [c.name, c.ok ? "ok" : "FAIL", c.detail])];
  const logged = Object.entries(v.summary.supervisor_log as Record<string, number>);
  const log = [["supervisors logged (the most frequent; all in the JSON line)", "times"], ...logged.slice(0, 12).map(([k, n]) => [k, String(n)])];
  return `${table(faults)}\n\n${table(checks)}\n\n${logged.length ? table(log) : "  supervisors logged no warning or error"}\n\nverdict: ${v.pass ? "PASS" : "FAIL"}`;
}
