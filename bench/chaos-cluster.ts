/**
 * The chaos soak's cluster: its own PostgreSQL (which it crashes), the `waymark supervise`
 * processes (which it kills and replaces), and the /proc views of both.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { retryLostConnection } from "../store/db.js";
import { migrate } from "../store/migrate.js";
import { startSupervisor, type Supervised } from "./harness.js";
import { privateServer, type PrivateServer } from "./server.js";

const CHAOS_WORKFLOWS = fileURLToPath(new URL("./chaos-workflows.js", import.meta.url));
/** The action child's entry: what the orphan scan looks for in command lines. */
const CHILD_ENTRY = fileURLToPath(new URL("../child/main.js", import.meta.url));

/**
 * A record of every write that moves an instance on (its state or status changes) and of any
 * write to a finished row, taken by a trigger so that the soak sees what was committed, when
 * (`clock_timestamp()`, the database's clock), and by whom (`writer`: the lease owner the
 * write's guard matched, the old `lease_owner`). The engine knows nothing of it.
 */
const TRIGGER = `
CREATE SCHEMA chaos;
CREATE TABLE chaos.steps (
  instance_id   uuid        NOT NULL,
  writer        text,
  old_status    text        NOT NULL,
  new_status    text        NOT NULL,
  state_changed boolean     NOT NULL,
  at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION chaos.step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO chaos.steps (instance_id, writer, old_status, new_status, state_changed)
  VALUES (NEW.id, OLD.lease_owner, OLD.status, NEW.status, OLD.state IS DISTINCT FROM NEW.state);
  RETURN NULL;
END $$;
CREATE TRIGGER chaos_step AFTER UPDATE ON waymark.instances FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.state IS DISTINCT FROM NEW.state
        OR OLD.status IN ('completed', 'failed', 'cancelled'))
  EXECUTE FUNCTION chaos.step();
`;

/** A migrated private server with the step trigger in place. */
export async function chaosDatabase(): Promise<PrivateServer> {
  const server = await privateServer({ prefix: "waymark-chaos-pg-" });
  await migrate({ connectionString: server.url });
  await query(server.url, TRIGGER);
  return server;
}

/**
 * One statement on a connection of its own (named `chaos-monitor`, so terminating the
 * `waymark*` connections spares it), asked again while the server is away, for up to 90 s.
 */
export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  return retryLostConnection(async () => {
    const c = new pg.Client({ connectionString: url, application_name: "chaos-monitor", connectionTimeoutMillis: 5000 });
    c.on("error", () => undefined);
    try {
      await c.connect();
      return (await c.query<T>(text, params)).rows;
    } finally {
      await c.end().catch(() => undefined);
    }
  }, 90_000);
}

/** The supervisors: a fixed number alive, each killed one replaced at once. */
export class Fleet {
  readonly live = new Map<number, Supervised>();
  /** Every supervisor started, in order, with its log file. */
  readonly started: Array<{ pid: number; log: string }> = [];
  private count = 0;

  constructor(private readonly options: { url: string; env: Record<string, string>; logDir: string }) {}

  /** Starts one more; a start that fails (the database restarting) is tried again, up to 3 times. */
  async add(): Promise<Supervised> {
    const n = ++this.count; // taken before the first await: supervisors started together get their own logs
    for (let attempt = 1; ; attempt++) {
      const log = path.join(this.options.logDir, `supervise-${n}${attempt > 1 ? `-try${attempt}` : ""}.log`);
      try {
        const sup = await startSupervisor({
          url: this.options.url,
          env: this.options.env,
          modules: [CHAOS_WORKFLOWS],
          logFile: log,
          forceKillAfterDelay: false,
        });
        this.live.set(sup.pid, sup);
        this.started.push({ pid: sup.pid, log });
        return sup;
      } catch (e) {
        if (attempt >= 3) throw e;
        await new Promise((r) => setTimeout(r, 1000 * attempt));
      }
    }
  }

  pids(): number[] {
    return [...this.live.keys()].sort((a, b) => a - b);
  }

  async kill(pid: number): Promise<void> {
    const sup = this.live.get(pid);
    this.live.delete(pid);
    await sup?.kill();
  }

  /** SIGTERM to all; each has `timeoutMs` to exit (a hang is reported, then killed). */
  async stopAll(timeoutMs: number): Promise<Array<{ pid: number; exitCode: number | undefined; ms: number; hung: boolean }>> {
    return Promise.all(
      [...this.live].map(async ([pid, sup]) => {
        const t0 = Date.now();
        let timer: NodeJS.Timeout | undefined;
        const hung = new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), timeoutMs)));
        const code = await Promise.race([sup.stop(), hung]);
        clearTimeout(timer);
        if (code === "hung") await sup.kill();
        this.live.delete(pid);
        return { pid, exitCode: code === "hung" ? undefined : code, ms: Date.now() - t0, hung: code === "hung" };
      }),
    );
  }
}

export interface Proc {
  pid: number;
  ppid: number;
  cmdline: string;
}

export function procOf(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (f[0] === "Z") return undefined; // exited, not yet reaped
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    return { pid, ppid: Number(f[1]), cmdline };
  } catch {
    return undefined;
  }
}

/** Whether `pid` is an action child of supervisor `parent` right now (not a reused pid). */
export function isChildOf(pid: number, parent: number): boolean {
  const p = procOf(pid);
  return !!p && p.ppid === parent && p.cmdline.includes(CHILD_ENTRY);
}

/**
 * Every live process of this run: the supervisors and their children carry CHAOS_RUN=<runId>
 * in their environment, so a child whose supervisor was killed (re-parented to init) is found too.
 */
function processesOfRun(runId: string): Proc[] {
  const marker = `\0CHAOS_RUN=${runId}\0`;
  const out: Proc[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!`\0${readFileSync(`/proc/${entry}/environ`, "utf8")}`.includes(marker)) continue;
    } catch {
      continue;
    }
    const p = procOf(Number(entry));
    if (p) out.push(p);
  }
  return out;
}

/** Waits (bounded) for the run's processes to be gone; returns those still there. */
export async function orphansAfter(runId: string, timeoutMs: number): Promise<Proc[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesOfRun(runId);
    if (!left.length || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}
