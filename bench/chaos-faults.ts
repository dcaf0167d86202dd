/**
 * The chaos soak's faults, injected when the plan says: kill -9 of an action child or of a
 * supervisor (replaced at once), a PostgreSQL crash and restart, pg_terminate_backend of every
 * waymark connection. The target is chosen at injection time from the plan's `pick` and the live
 * status rows, so it is not replayable. Each returns a FaultRecord (what it touched, and from when
 * recovery counts); a fault that cannot be injected is recorded with its error, not thrown.
 */
import { childPids } from "./harness.js";
import { isChildOf, procOf, query, type Fleet } from "./chaos-cluster.js";
import type { FaultKind, PlannedFault } from "./chaos-plan.js";
import type { PrivateServer } from "./server.js";

/** What was done, to what, and what it touched: the verdict measures recovery from here. */
export interface FaultRecord {
  kind: FaultKind;
  /** When it was planned and when it happened, in ms from the start of the run. */
  plannedMs: number;
  atMs: number;
  /** Epoch ms of the fault, and from when recovery counts: the fault, or Postgres accepting connections again. */
  at: number;
  from: number;
  detail: string;
  /** child-kill: the killed child. */
  pid?: number;
  /** supervisor-kill: the dead supervisor's lease owner (its late writes are not progress). */
  owner?: string;
  /** The instances running at the fault (for a supervisor, those it held); a child's are read from its log. */
  instances: string[];
  /** Set when the fault could not be injected. */
  error?: string;
}

export interface FaultContext {
  server: PrivateServer;
  fleet: Fleet;
  /** Epoch ms of the start of the run. */
  t0: number;
}

const pickOf = <T>(list: T[], pick: number): T | undefined => list[Math.floor(pick * list.length)];
/** What is left of `pick` after choosing among `n`: a second choice independent of the first. */
const rest = (pick: number, n: number) => (pick * n) % 1;

async function running(url: string, owner?: string): Promise<string[]> {
  const rows = owner
    ? await query(url, "SELECT id::text AS id FROM waymark.instances WHERE status = 'running' AND lease_owner = $1", [owner])
    : await query(url, "SELECT id::text AS id FROM waymark.instances WHERE status = 'running'");
  return rows.map((r) => r.id as string);
}

/** A supervisor's published status row (`waymark status --json` prints the same rows). */
async function statusRow(url: string, pid: number): Promise<{ owner: string; children: Array<{ pid: number; state: string; inflight: number }> } | undefined> {
  const [row] = await query(url, "SELECT owner, stats FROM waymark.worker_status WHERE pid = $1 ORDER BY updated_at DESC LIMIT 1", [pid]);
  return row ? { owner: row.owner, children: row.stats.children ?? [] } : undefined;
}

type Injected = Omit<FaultRecord, "kind" | "plannedMs" | "atMs">;

/** kill -9 of an action child: one with actions in flight, if any, of a supervisor picked by the plan. */
async function childKill(ctx: FaultContext, f: PlannedFault): Promise<Injected> {
  const sups = ctx.fleet.pids();
  const sup = pickOf(sups, f.pick)!;
  const pick = rest(f.pick, sups.length);
  const status = await statusRow(ctx.server.url, sup);
  // The status row is at most WAYMARK_RUNNER_PROFILE_INTERVAL_MS old: keep the pids that are still this supervisor's children.
  const listed = (status?.children ?? []).filter((c) => c.state === "ready" && isChildOf(c.pid, sup));
  const busy = listed.filter((c) => c.inflight > 0);
  const from = busy.length ? busy : listed;
  let pid = pickOf(
    from.map((c) => c.pid).sort((a, b) => a - b),
    pick,
  );
  let source = busy.length ? `${busy.find((c) => c.pid === pid)!.inflight} in flight per its status row` : "idle per its status row";
  if (pid === undefined) {
    pid = pickOf(
      childPids(sup).filter((c) => isChildOf(c, sup)),
      pick,
    );
    source = "found in /proc: its status row listed no live child";
  }
  if (pid === undefined) throw new Error(`supervisor ${sup} has no child to kill`);
  const at = Date.now();
  process.kill(pid, "SIGKILL");
  return { at, from: at, pid, instances: [], detail: `child ${pid} of supervisor ${sup} (${source})` };
}

/** kill -9 of a supervisor picked by the plan, and a replacement started at once. */
async function supervisorKill(ctx: FaultContext, f: PlannedFault): Promise<Injected> {
  const pid = pickOf(ctx.fleet.pids(), f.pick)!;
  const owner = (await statusRow(ctx.server.url, pid))?.owner;
  if (!owner) throw new Error(`supervisor ${pid} has no status row`);
  const instances = await running(ctx.server.url, owner);
  const children = childPids(pid);
  const at = Date.now();
  await ctx.fleet.kill(pid);
  const replacement = await ctx.fleet.add();
  const left = children.filter((c) => procOf(c));
  return {
    at,
    from: at,
    owner,
    instances,
    detail:
      `supervisor ${pid} holding ${instances.length} running instances, children ${children.join(", ")}; replaced by ${replacement.pid} in ${Date.now() - at} ms` +
      (left.length ? `; children still alive then: ${left.join(", ")}` : ""),
  };
}

/** PostgreSQL stopped in immediate mode (a crash: no checkpoint), then started on the same data and port. */
async function postgresCrash(ctx: FaultContext): Promise<Injected> {
  const instances = await running(ctx.server.url);
  const at = Date.now();
  await ctx.server.crash();
  const down = Date.now();
  const url = await ctx.server.restart();
  const back = Date.now();
  if (url !== ctx.server.url) throw new Error(`PostgreSQL came back on another address (${url}): the supervisors cannot follow`);
  return {
    at,
    from: back,
    instances,
    detail: `${instances.length} instances running; down in ${down - at} ms, accepting connections again ${back - at} ms after the crash`,
  };
}

/** pg_terminate_backend of every waymark connection (supervisors' pools, LISTEN, the soak's SDK). */
async function terminate(ctx: FaultContext): Promise<Injected> {
  const instances = await running(ctx.server.url);
  const at = Date.now();
  const [row] = await query(
    ctx.server.url,
    "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name LIKE 'waymark%' AND pid <> pg_backend_pid()",
  );
  return { at, from: at, instances, detail: `${row!.n} connections terminated, ${instances.length} instances running` };
}

export async function inject(ctx: FaultContext, f: PlannedFault): Promise<FaultRecord> {
  const base = { kind: f.kind, plannedMs: f.atMs };
  try {
    const done =
      f.kind === "child-kill"
        ? await childKill(ctx, f)
        : f.kind === "supervisor-kill"
          ? await supervisorKill(ctx, f)
          : f.kind === "postgres-crash"
            ? await postgresCrash(ctx)
            : await terminate(ctx);
    return { ...base, ...done, atMs: done.at - ctx.t0 };
  } catch (e) {
    const at = Date.now();
    return { ...base, atMs: at - ctx.t0, at, from: at, instances: [], detail: "not injected", error: (e as Error).message };
  }
}
