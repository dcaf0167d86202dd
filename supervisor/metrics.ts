/**
 * The supervisor's metrics, recorded once through `@opentelemetry/api`: to the meter provider an
 * app registered (WAYMARK_TELEMETRY_MODULE), and, with WAYMARK_METRICS_ADDR, to a provider of
 * waymark's own whose Prometheus exporter serves them at /metrics. With neither, every
 * instrument is the API's no-op. Labels are bounded: workflow, action, status, outcome; never an
 * instance id. Durations are in seconds, with buckets from a millisecond to three hours.
 */
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { type Attributes, type Counter, createNoopMeter, type Histogram, type Meter, metrics, type ObservableResult } from "@opentelemetry/api";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import type pg from "pg";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { queueDepth } from "../store/instances.js";

/** Seconds: from a millisecond to three hours. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 10_800];

/** How often one supervisor counts the instances per workflow and status. */
const DEPTH_INTERVAL_MS = 15_000;

/** One instrument recorded on every meter (the app's and waymark's own). */
class Fan<T extends Counter | Histogram> {
  constructor(private readonly each: T[]) {}
  add(value: number, attributes?: Attributes): void {
    for (const i of this.each) (i as Counter).add(value, attributes);
  }
  record(value: number, attributes?: Attributes): void {
    for (const i of this.each) (i as Histogram).record(value, attributes);
  }
}

export interface MetricsSources {
  /** Instances this supervisor holds. */
  held(): number;
  /** Its live action children. */
  children(): number;
  /** Children replaced after WAYMARK_MAX_ACTION_LIFECYCLE actions, since it started. */
  recycled(): number;
  /** Per limited action: calls waiting here for their limit. */
  waiting(): Record<string, { running: number; waiting: number }>;
}

export class Metrics {
  readonly instancesStarted: Fan<Counter>;
  readonly instancesFinished: Fan<Counter>;
  readonly attempts: Fan<Counter>;
  readonly actionDuration: Fan<Histogram>;
  readonly queueLag: Fan<Histogram>;
  readonly stepLatency: Fan<Histogram>;
  readonly childDeaths: Fan<Counter>;
  readonly reclaims: Fan<Counter>;
  /** Whether anything records (an app's SDK or /metrics): the shards skip the clock reads otherwise. */
  readonly enabled: boolean;
  private depth: Array<{ workflow: string; status: string; count: number }> = [];
  private depthLoop: Loop | undefined;

  private constructor(
    private readonly meters: Meter[],
    private readonly exporter: PrometheusExporter | undefined,
    private readonly provider: MeterProvider | undefined,
  ) {
    this.enabled = meters.length > 0;
    const counter = (name: string, description: string) => new Fan(meters.map((m) => m.createCounter(name, { description })));
    const histogram = (name: string, description: string) =>
      new Fan(meters.map((m) => m.createHistogram(name, { description, advice: { explicitBucketBoundaries: BUCKETS } })));
    this.instancesStarted = counter("waymark_instances_started", "Instances started (not resumed), per workflow");
    this.instancesFinished = counter("waymark_instances_finished", "Instances finished, per workflow and status (completed, failed, cancelled)");
    this.attempts = counter("waymark_action_attempts", "Action attempts ended, per action and outcome (completed, failed, timed_out)");
    this.actionDuration = histogram("waymark_action_duration_seconds", "Action attempt duration in its child, per action and outcome");
    this.queueLag = histogram(
      "waymark_action_queue_lag_seconds",
      "From an action call being ready (its state written) to its attempt starting in a child, per action",
    );
    this.stepLatency = histogram(
      "waymark_step_latency_seconds",
      "From an action's result reaching the supervisor to the instance's next action being sent, per workflow",
    );
    this.childDeaths = counter("waymark_child_deaths", "Action children that died (crash, OOM, kill)");
    this.reclaims = counter("waymark_lease_reclaims", "Instances of dead supervisors put back in the queue by this supervisor");
  }

  /**
   * Metrics for a supervisor: with `addr`, served at http://addr/metrics (the server is up when
   * this resolves; a port in use is an error naming the setting).
   */
  static async create(p: { addr?: string | undefined; log: Logger }): Promise<Metrics> {
    const meters: Meter[] = [];
    // An app's provider (registered by WAYMARK_TELEMETRY_MODULE) receives them too.
    const global = metrics.getMeter("waymark");
    if (global !== createNoopMeter()) meters.push(global);
    let exporter: PrometheusExporter | undefined;
    let provider: MeterProvider | undefined;
    if (p.addr) {
      const i = p.addr.lastIndexOf(":");
      const host = p.addr.slice(0, i).replace(/^\[|\]$/g, "");
      const port = Number(p.addr.slice(i + 1));
      exporter = new PrometheusExporter({ host, port, endpoint: "/metrics", preventServerStart: true });
      try {
        await exporter.startServer();
      } catch (e) {
        throw new Error(`WAYMARK_METRICS_ADDR=${p.addr}: cannot serve metrics there (${(e as Error).message}); choose a free host:port`);
      }
      provider = new MeterProvider({ readers: [exporter] });
      meters.push(provider.getMeter("waymark"));
      p.log.info("serving metrics", { url: `http://${p.addr}/metrics` });
    }
    return new Metrics(meters, exporter, provider);
  }

  /** The gauges, read when scraped; queue depth counted by one supervisor at a time. */
  observe(sources: MetricsSources, depth?: { db: pg.Pool; owner: string; log: Logger }): void {
    if (!this.enabled) return;
    for (const m of this.meters) {
      m.createObservableGauge("waymark_instances_held", { description: "Instances this supervisor holds" }).addCallback((r: ObservableResult) =>
        r.observe(sources.held()),
      );
      m.createObservableGauge("waymark_children", { description: "Live action children of this supervisor" }).addCallback((r: ObservableResult) =>
        r.observe(sources.children()),
      );
      m.createObservableCounter("waymark_child_recycles", { description: "Action children replaced after WAYMARK_MAX_ACTION_LIFECYCLE actions" }).addCallback(
        (r: ObservableResult) => r.observe(sources.recycled()),
      );
      m.createObservableGauge("waymark_limited_calls", { description: "Calls of limited actions here, per action and state (running, waiting)" }).addCallback(
        (r: ObservableResult) => {
          for (const [action, s] of Object.entries(sources.waiting())) {
            r.observe(s.running, { action, state: "running" });
            r.observe(s.waiting, { action, state: "waiting" });
          }
        },
      );
      m.createObservableGauge("waymark_queue_depth", {
        description: "Unfinished instances per workflow and status, cluster-wide (reported by one supervisor at a time)",
      }).addCallback((r: ObservableResult) => {
        for (const d of this.depth) r.observe(d.count, { workflow: d.workflow, status: d.status });
      });
    }
    if (depth) {
      this.depthLoop = new Loop({
        pass: async () => {
          this.depth = await queueDepth(depth.db, { owner: depth.owner });
        },
        intervalMs: DEPTH_INTERVAL_MS,
        backoffMs: DEPTH_INTERVAL_MS,
        maxBackoffMs: DEPTH_INTERVAL_MS,
        onError: (e) => depth.log.warn("counting the queue for metrics failed; retrying", { error: (e as Error).message }),
      });
      this.depthLoop.start();
    }
  }

  async stop(): Promise<void> {
    await this.depthLoop?.stop();
    await this.provider?.shutdown().catch(() => undefined);
    await this.exporter?.stopServer().catch(() => undefined);
  }
}
