import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { redact, type WaymarkConfig } from "../config/env.js";
import type { Logger } from "../log/logger.js";
import { poolCreate } from "../store/db.js";
import { embeddedStart, EMBEDDED_DIR, type EmbeddedServer } from "../embedded/server.js";
import type { ClaimedInstance } from "../store/leases.js";
import { migrate } from "../store/migrate.js";
import { versionUpsert } from "../store/versions.js";
import type { WorkflowIR } from "../core/ir.js";
import { SupervisorEvents } from "../core/events.js";
import { hostEnter } from "../core/hosts.js";
import { tokenInstance } from "./instance.js";
import { Leases } from "./leases.js";
import { Maintenance } from "./maintenance.js";
import { Notifier } from "./notifier.js";
import { MAX_CLAIM, Poller } from "./poller.js";
import { Scheduler } from "./scheduler.js";
import { ChildPool } from "./pool.js";
import { Limiter } from "./limiter.js";
import { Metrics } from "./metrics.js";
import { Shard } from "./shard.js";
import { VersionCache } from "./versions.js";
import { WebServer } from "../web/server.js";
import type { CompiledWorkflowInfo } from "../child/protocol.js";
import { userModuleImport } from "../child/modules.js";
import { registerTypeScriptLoader } from "../loader/index.js";
import { Wakeups } from "./wakeups.js";

export interface SupervisorOptions {
  config: WaymarkConfig;
  log: Logger;
  /** Where the embedded database lives when WAYMARK_DATABASE_URL is unset. @default process.cwd() */
  cwd?: string;
  /** Extra environment for the children (undefined removes a variable). */
  childEnv?: Record<string, string | undefined>;
}

function hash(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  return h >>> 0;
}

/**
 * `waymark supervise`: owns the Postgres connections (one pool and one LISTEN connection), the
 * child pool, the executor shards, the poller, the leases. Every part is a service with
 * start/stop; `stop()` is safe before `start()` and twice, and returns when everything stopped.
 */
export class Supervisor {
  readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  readonly events = new SupervisorEvents();
  private embedded: EmbeddedServer | undefined;
  private db: pg.Pool | undefined;
  private pool: ChildPool | undefined;
  private shards: Shard[] = [];
  private notifier: Notifier | undefined;
  private poller: Poller | undefined;
  private leases: Leases | undefined;
  private limiter: Limiter | undefined;
  private scheduler: Scheduler | undefined;
  private maintenance: Maintenance | undefined;
  private sweeper: NodeJS.Timeout | null = null;
  private web: WebServer | undefined;
  private metrics: Metrics | undefined;
  private stopping: Promise<void> | undefined;
  private started = false;
  /** Releases this process's registration as a supervisor's host (core/hosts.ts). */
  private hostRelease: (() => void) | undefined;
  /** Claimed instances whose adoption (reading their version) has not finished. */
  private adopting = 0;
  /** Of those, suspects (their last supervisor died holding them). */
  private adoptingSuspects = 0;
  /** Most instances held at once (the WAYMARK_MAX_CONCURRENT_INSTANCES cap). */
  private peakInstances = 0;
  /** The last claim took all it asked for: runnable instances are probably left. */
  private backlog = true;
  /** When instances it heard of fall due: the poller is woken then, not at its next interval. */
  private readonly wakeups = new Wakeups(() => this.poller?.wake());
  connectionString = "";

  constructor(private readonly options: SupervisorOptions) {}

  private get log(): Logger {
    return this.options.log;
  }

  async start(): Promise<void> {
    const { config } = this.options;
    // Never beside a waymark/testing environment in one process (core/hosts.ts): refused before anything starts.
    this.hostRelease ??= hostEnter("supervisor");
    try {
      if (config.databaseUrl) this.connectionString = config.databaseUrl;
      else {
        this.embedded = await embeddedStart({ dir: path.join(this.options.cwd ?? process.cwd(), EMBEDDED_DIR), log: this.log.scope("postgres") });
        this.connectionString = this.embedded.url;
        this.log.info(this.embedded.owned ? "started the embedded PostgreSQL" : "joined the embedded PostgreSQL already running here", {
          url: redact(this.embedded.url),
        });
      }
      await migrate({ connectionString: this.connectionString, log: this.log.scope("migrate") });
      // The app's telemetry set-up (an OpenTelemetry SDK) before anything records.
      if (config.telemetryModule) {
        if (/\.(c|m)?tsx?$/.test(config.telemetryModule)) registerTypeScriptLoader();
        try {
          await userModuleImport(config.telemetryModule, { timeoutMs: config.userModuleLoadTimeoutMs });
        } catch (e) {
          throw new Error(`WAYMARK_TELEMETRY_MODULE=${config.telemetryModule} failed to load: ${(e as Error).message}`);
        }
      }
      this.metrics = await Metrics.create({ addr: config.metricsAddr, log: this.log.scope("metrics") });
      const metrics = this.metrics;
      this.db = poolCreate({ connectionString: this.connectionString, max: config.executorShards + 6, applicationName: "waymark-supervise" });
      const versions = new VersionCache(this.db);

      const pool = new ChildPool({
        workerCount: config.workerCount,
        concurrency: config.concurrentPerWorker,
        maxLifecycle: config.maxActionLifecycle,
        modules: config.userModules,
        log: this.log.scope("pool"),
        env: this.options.childEnv,
        maxValueBytes: config.maxValueBytes,
        loadTimeoutMs: config.userModuleLoadTimeoutMs,
      });
      this.pool = pool;
      // The workflows of the user modules, compiled once in a process of their own, are registered
      // as the latest versions, so a schedule fires the version this deploy runs (the scheduler
      // starts after this); the action children start meanwhile.
      const [{ workflows, limits }] = await Promise.all([pool.inspect(), pool.start()]);
      if (workflows.length) await this.registerVersions(workflows);
      this.limiter = new Limiter({
        db: this.db!,
        owner: this.owner,
        ttlMs: config.lockTtlMs,
        heartbeatMs: config.lockHeartbeatMs,
        log: this.log.scope("limits"),
        dispatch: (task) => pool.submit(task),
      });
      this.limiter.setLimits(limits);
      const limiter = this.limiter;
      // Workflows' own records (`console.log` in `run()`), as one component whatever the shard.
      const workflowLog = this.log.scope("workflow");

      this.shards = Array.from(
        { length: config.executorShards },
        (_, index) =>
          new Shard({
            index,
            db: this.db!,
            owner: this.owner,
            config,
            pool,
            versions,
            log: this.log.scope(`shard${index}`),
            workflowLog,
            events: this.events,
            limiter,
            metrics,
          }),
      );
      pool.on("result", (r) => this.shardFor(tokenInstance(r.id)).onResult(r));
      pool.on("progress", (items) => {
        for (const i of items) this.shardFor(tokenInstance(i.id)).onProgress(i.id, i.progress);
      });
      pool.on("lost", ({ ids, pid, reason }) => {
        metrics.childDeaths.add(1);
        const byShard = new Map<Shard, string[]>();
        for (const id of ids) {
          const s = this.shardFor(tokenInstance(id));
          byShard.set(s, [...(byShard.get(s) ?? []), id]);
        }
        for (const [s, list] of byShard) s.onLost(list, pid, reason);
      });

      this.poller = new Poller({
        db: this.db,
        owner: this.owner,
        leaseMs: config.lockTtlMs,
        intervalMs: config.pollIntervalMs,
        log: this.log.scope("poller"),
        room: () => this.room(),
        // One isolated instance at a time: if it kills this supervisor too, it alone is to blame.
        isolated: () => (this.shards.some((s) => s.holdsSuspect()) || this.adoptingSuspects > 0 ? 0 : 1),
        adopt: (batch) => this.adopt(batch),
        claimed: (full) => (this.backlog = full),
      });
      this.notifier = new Notifier(
        this.connectionString,
        {
          queued: () => this.poller?.wake(),
          due: (inMs) => this.wakeups.add(Date.now() + inMs),
          cancel: (id) => this.shardFor(id).cancel(id),
          event: (id) => this.shardFor(id).onEvent(id),
          granted: (owner, tokens) => {
            if (owner === this.owner) this.limiter?.granted(tokens);
          },
          schedule: () => this.scheduler?.wake(),
          reconnected: () => {
            this.poller?.wake();
            this.scheduler?.wake();
          },
        },
        this.log.scope("listen"),
      );
      await this.notifier.start();
      this.leases = new Leases({
        db: this.db,
        owner: this.owner,
        ttlMs: config.lockTtlMs,
        heartbeatMs: config.lockHeartbeatMs,
        reclaimIntervalMs: config.expiredLockReclaimerIntervalMs,
        reclaimBatchSize: config.expiredLockReclaimerBatchSize,
        crashLoopLimit: config.crashLoopLimit,
        log: this.log.scope("leases"),
        held: () => this.shards.flatMap((s) => [...s.live.values()].map((l): [string, number] => [l.id, l.epoch])),
        // By epoch: the same instance claimed again while the heartbeat ran is a new claim, not
        // lost. One on its way out (finishing, going to sleep, released) is judged by the guard of
        // its own write, which may have committed just before the heartbeat ran.
        lost: (list) => {
          for (const { id, epoch } of list) this.shardFor(id).drop(id, "its lease expired and another supervisor may have it", epoch, { unlessLeaving: true });
        },
        cancel: (ids) => {
          for (const id of ids) this.shardFor(id).cancel(id);
        },
        eventsSent: (sent) => {
          for (const [id, position] of sent) this.shardFor(id).onEvent(id, position);
        },
        reclaimed: (n) => {
          metrics.reclaims.add(n);
          this.poller?.wake();
        },
      });
      this.leases.start();
      this.poller.start();
      // While runnable instances are left (the last claim was full), claim again as soon as there
      // is room for a batch, not at the next poll: an instance that finished or left memory
      // (asleep, waiting) frees a place, a drained
      // child pool asks for work. Without a backlog, new work comes with a NOTIFY (and due
      // sleepers at the poll): a claim at every finish would ask an empty queue each time.
      // A batch is 40% of the cap (200 at most, a claim's most): fewer, larger claims, dispatches
      // and writes (tiny: 8,536 -> 9,206 instances/s against 10%, four runs each); a claim woken
      // by a NOTIFY takes whatever room there is, so a single start waits for nothing.
      const batchRoom = Math.max(1, Math.min(MAX_CLAIM, Math.floor((config.maxConcurrentInstances * 2) / 5)));
      const roomFreed = () => {
        if (this.backlog && this.room() >= batchRoom) this.poller?.wake();
      };
      this.events.on("instance.finished", roomFreed);
      this.events.on("instance.left", roomFreed);
      // An instance put to sleep (or out of memory with a deadline) is claimed when it is due.
      this.events.on("instance.left", ({ wakeAt }) => {
        if (wakeAt !== undefined) this.wakeups.add(wakeAt);
      });
      pool.on("drained", () => {
        if (this.backlog) this.poller?.wake();
      });
      this.scheduler = new Scheduler({
        db: this.db,
        intervalMs: config.schedulerPollIntervalMs,
        batchSize: config.schedulerBatchSize,
        log: this.log.scope("scheduler"),
      });
      this.scheduler.start();
      this.maintenance = new Maintenance({
        db: this.db,
        owner: this.owner,
        profileIntervalMs: config.runnerProfileIntervalMs,
        retentionHours: config.garbageCollectorRetentionHours,
        log: this.log.scope("maintenance"),
        stats: () => this.stats(),
      });
      this.maintenance.start();
      metrics.observe(
        { held: () => this.liveCount(), children: () => pool.children().length, recycled: () => pool.recycled, waiting: () => limiter.stats() },
        { db: this.db, owner: this.owner, log: this.log.scope("metrics") },
      );
      this.sweeper = setInterval(() => {
        const now = Date.now();
        for (const s of this.shards) s.sweep(now);
      }, 250);
      // --- web app (web/): served from here when WAYMARK_WEBAPP_ENABLED ---
      if (config.webappEnabled) {
        this.web = new WebServer({ db: this.db, config, log: this.log.scope("web"), events: this.events, stats: () => this.stats() });
        await this.web.start().catch((e: NodeJS.ErrnoException) => {
          if (e.code !== "EADDRINUSE") throw e;
          this.log.error("the web app's address is in use (another supervisor on this host may serve it): running without it", { addr: config.webappAddr });
          this.web = undefined;
        });
      }
      // --- end web app ---
      this.started = true;
      this.log.info("waymark supervise is running", {
        owner: this.owner,
        database: redact(this.connectionString),
        workers: config.workerCount,
        concurrentPerWorker: config.concurrentPerWorker,
        shards: config.executorShards,
        modules: config.userModules.join(",") || "(none)",
      });
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async registerVersions(workflows: CompiledWorkflowInfo[]): Promise<void> {
    for (const w of workflows) {
      try {
        await versionUpsert(this.db!, { name: w.name, hash: w.hash, ir: w.ir as WorkflowIR, sourceFile: w.file, sourceLine: w.line, latest: true });
      } catch (e) {
        this.log.warn("could not register a workflow version", { workflow: w.name, error: (e as Error).message });
      }
    }
  }

  private shardFor(instanceId: string): Shard {
    return this.shards[hash(instanceId) % this.shards.length]!;
  }

  /** Instances held: in memory, and claimed but still being taken in (reading their version). */
  private liveCount(): number {
    let n = this.adopting;
    for (const s of this.shards) n += s.live.size;
    return n;
  }

  /** How many more instances to claim: the instance cap, and no backlog in the child pool. */
  private room(): number {
    const pool = this.pool;
    if (!pool || this.stopping) return 0;
    if (pool.queued > pool.totalSlots) return 0;
    return this.options.config.maxConcurrentInstances - this.liveCount();
  }

  private adopt(batch: ClaimedInstance[]): void {
    this.adopting += batch.length;
    this.peakInstances = Math.max(this.peakInstances, this.liveCount());
    for (const c of batch) {
      const shard = this.shardFor(c.id);
      const suspect = c.isolated;
      if (c.leaseLosses > 0)
        this.log.warn("running an instance whose supervisor died while running it", {
          instance: c.id,
          workflow: c.workflowName,
          deathsInARow: c.leaseLosses,
          alone: c.isolated,
        });
      if (suspect) this.adoptingSuspects++;
      const adopted = () => {
        this.adopting--;
        if (suspect) this.adoptingSuspects--;
      };
      const failed = (e: unknown) => this.log.error("adopting an instance failed", { instance: c.id, error: e });
      let reading: Promise<void> | undefined;
      try {
        reading = shard.adopt(c);
      } catch (e) {
        failed(e);
      }
      if (reading) reading.catch(failed).finally(adopted);
      else adopted();
    }
  }

  /** Counters for the status row and tests. */
  stats() {
    const pool = this.pool;
    return {
      owner: this.owner,
      instances: this.liveCount(),
      peakInstances: this.peakInstances,
      shards: this.shards.map((s) => ({ instances: s.live.size, completed: s.completed, actions: s.actions, batches: s.persister.batches })),
      inflight: this.shards.reduce((n, s) => n + s.inflight(), 0),
      completed: this.shards.reduce((n, s) => n + s.completed, 0),
      failed: this.shards.reduce((n, s) => n + s.failed, 0),
      actions: this.shards.reduce((n, s) => n + s.actions, 0),
      claimed: this.poller?.claimed ?? 0,
      batches: this.shards.reduce((n, s) => n + s.persister.batches, 0),
      children: pool?.children() ?? [],
      peakChildren: pool?.peakChildren ?? 0,
      childPids: pool ? [...pool.pidsSeen] : [],
      recycled: pool?.recycled ?? 0,
    };
  }

  /**
   * Stops claiming, lets in-flight actions finish (up to WAYMARK_SHUTDOWN_GRACE_MS), writes every
   * instance back and releases its lease, stops the children, and closes the connections.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.graceMs ?? this.options.config.shutdownGraceMs);
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    await this.web?.stop(); // web app first: no request reads a closing pool
    const wasStarted = this.started;
    if (wasStarted) this.log.info("stopping: no new claims; letting in-flight actions finish", { graceMs });
    this.wakeups.stop();
    await this.poller?.stop();
    await this.scheduler?.stop();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await this.pool?.stop(graceMs, Math.min(this.options.config.abortGraceMs, 5000));
    // Calls still waiting for their flow-control slot never reached a child either.
    const unsent = new Set([...(this.pool?.unsent() ?? []), ...(this.limiter?.waitingTokens() ?? [])]);
    for (const s of this.shards) s.releaseAll(unsent);
    // Bounded: with the database away, give up after another grace period rather than hang.
    const writeDeadline = Date.now() + Math.max(graceMs, 5000);
    let unwritten = 0;
    for (const s of this.shards) {
      s.stopProgress();
      unwritten += await s.persister.drain(writeDeadline);
      s.persister.stop();
      // Effects not yet written are written again by the instance's next owner (idempotently).
      await s.outbox.stop();
    }
    // The slots of the attempts that ended go back; what is still held expires with the TTL.
    if (this.limiter) {
      await this.limiter.flush().catch(() => undefined);
      await this.limiter.stop();
    }
    if (unwritten)
      this.log.warn(
        "could not write every instance back before stopping: their leases expire and another supervisor resumes them from their last written state",
        { instances: unwritten },
      );
    await this.leases?.stop();
    await this.maintenance?.stop();
    await this.notifier?.stop();
    await this.metrics?.stop();
    await this.db?.end().catch(() => undefined);
    await this.embedded?.stop();
    this.hostRelease?.();
    if (wasStarted) this.log.info("stopped");
  }
}
