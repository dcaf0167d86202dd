/**
 * Every environment variable a user sets for waymark, defined once, with its default, and
 * validated at start-up. The only other `WAYMARK_*` variables are the private ones a supervisor
 * passes to its children (child/protocol.ts: WAYMARK_CHILD, WAYMARK_CHILD_MODULES, ...), read
 * by child/main.ts alone.
 */
import { isIP } from "node:net";
import os from "node:os";
import { LOG_LEVELS, type LogLevel } from "../log/logger.js";
import { DEFAULT_STEP_LIMIT } from "../core/limits.js";
import { redact } from "../log/redact.js";
import { nearest } from "./nearest.js";

export { redact };

export interface WaymarkConfig {
  /** PostgreSQL connection string. @default the embedded server under `.waymark/` */
  databaseUrl: string | undefined;
  /** Child processes that run actions. @default available parallelism */
  workerCount: number;
  /** Concurrent actions per child. @default 10 */
  concurrentPerWorker: number;
  /** Instances held in memory by one supervisor. @default 500 */
  maxConcurrentInstances: number;
  /** Executor shards that advance instances. @default available parallelism */
  executorShards: number;
  /** Modules the children (and the supervisor's version registry) preload. @default [] */
  userModules: string[];
  /** Longest each user module may take to load in a child before the start fails. @default 30000 */
  userModuleLoadTimeoutMs: number;
  /** Actions a child runs before it is replaced (spawn-before-retire). @default undefined (never) */
  maxActionLifecycle: number | undefined;
  /** Serve the web app from `waymark supervise`. @default false */
  webappEnabled: boolean;
  /** Web app address. @default 127.0.0.1:24119 */
  webappAddr: string;
  /** Token required by every web app route when set (surrounding whitespace dropped; blank is an error). @default undefined */
  webappToken: string | undefined;
  /** Serve the web app on a non-loopback address without a token anyway. @default false */
  webappInsecure: boolean;
  /** Host names the web app answers to besides loopback names and its bind address. @default [] */
  webappAllowedHosts: string[];
  /** Where the supervisor serves Prometheus metrics at /metrics. @default undefined (not served) */
  metricsAddr: string | undefined;
  /** A module the supervisor and every child import first (e.g. to register an OpenTelemetry SDK). @default undefined */
  telemetryModule: string | undefined;
  /** Fallback poll interval for queued instances (NOTIFY wakes pollers sooner). @default 100 */
  pollIntervalMs: number;
  /** Instances written per persistence statement. @default maxConcurrentInstances */
  instanceDoneBatchSize: number;
  /** Longest time a non-urgent write waits to join a batch. @default 500 */
  persistIntervalMs: number;
  /** Lease time-to-live. @default 15000 */
  lockTtlMs: number;
  /** Lease heartbeat interval. @default 5000 */
  lockHeartbeatMs: number;
  /** A sleep longer than this evicts the instance from memory. @default 10000 */
  evictSleepThresholdMs: number;
  /** Expired-lease reclaimer interval. @default 15000 */
  expiredLockReclaimerIntervalMs: number;
  /** Leases reclaimed per sweep. @default 1000 */
  expiredLockReclaimerBatchSize: number;
  /** Scheduler poll interval. @default 1000 */
  schedulerPollIntervalMs: number;
  /** Due schedules fired per scheduler pass. @default 100 */
  schedulerBatchSize: number;
  /** worker_status refresh interval. @default 5000 */
  runnerProfileIntervalMs: number;
  /** Finished instances are deleted after this many hours. @default 24 */
  garbageCollectorRetentionHours: number;
  /** `Workflow#run()` returns right after queueing. @default false */
  skipWaitForInstance: boolean;
  /** Log level. @default info */
  logLevel: LogLevel;
  /** Log format. @default text */
  logFormat: "text" | "json";
  /** Grace period for in-flight actions at shutdown. @default 30000 */
  shutdownGraceMs: number;
  /** Time a child gets to settle an aborted action before it is killed. @default 5000 */
  abortGraceMs: number;
  /** Steps an instance may run without waiting (an endless loop fails it). @default 50000000 */
  workflowStepLimit: number;
  /** Largest stored value: a workflow's arguments or result, an action's arguments or result, an event payload. @default 10485760 */
  maxValueBytes: number;
  /** Largest written state (snapshot) of one instance. @default 52428800 */
  maxStateBytes: number;
  /** Deaths in a row of the supervisor running an instance after which it fails (0: never). @default 3 */
  crashLoopLimit: number;
}

export class ConfigError extends Error {
  readonly code = "WAYMARK_CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

interface Spec {
  key: keyof WaymarkConfig;
  /** A blank value is given to `parse` rather than read as unset. */
  parseBlank?: boolean;
  parse(raw: string, name: string, env: Env): unknown;
  fallback(env: Env, partial: Partial<WaymarkConfig>): unknown;
  /** What the variable means, for `--help` and the README. */
  doc: string;
}

const cpus = () => Math.max(1, os.availableParallelism());

/**
 * The longest delay a Node timer can wait (2^31 - 1 ms, 24.8 days). A longer one is not an
 * error in Node: it is replaced by 1 ms, so a timer meant to fire monthly fires every
 * millisecond. Every duration waymark hands to a timer stays at or below this.
 */
export const MAX_TIMER_MS = 2_147_483_647;

const MAX_RETENTION_HOURS = 1_000_000;

function int(min: number, max = Number.MAX_SAFE_INTEGER, unit = "") {
  return (raw: string, name: string) => {
    const trimmed = raw.trim();
    if (!/^-?\d+$/.test(trimmed)) {
      throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a whole number: set it to an integer from ${min} to ${max}${unit}`);
    }
    const n = Number(trimmed);
    if (n < min || n > max) {
      throw new ConfigError(`${name}=${raw} is out of range: allowed is ${min} to ${max}${unit}`);
    }
    return n;
  };
}

/** A duration in milliseconds that feeds a timer: a whole number from `min` to MAX_TIMER_MS. */
function ms(min: number) {
  return int(min, MAX_TIMER_MS, " ms (about 24.8 days, the longest a Node timer can wait)");
}

/** A duration that is at least 1 ms: 0 (and only 0) is raised to 1, as the seed's table says. */
function msAtLeastOne(raw: string, name: string) {
  return Math.max(1, ms(0)(raw, name));
}

function bool(raw: string, name: string) {
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off", ""].includes(v)) return false;
  throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a boolean: use true or false (also 1/0, yes/no, on/off)`);
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string, name: string) => {
    const v = raw.trim().toLowerCase() as T;
    if (values.includes(v)) return v;
    const hint = nearest(v, values);
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not allowed: use one of ${values.join(", ")}${hint ? ` (did you mean ${hint}?)` : ""}`);
  };
}

function addr(raw: string, name: string) {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(raw.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 0 || port > 65535) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a host:port address, e.g. 127.0.0.1:24119`);
  }
  return raw.trim();
}

function url(raw: string, name: string) {
  const v = raw.trim();
  if (!/^postgres(ql)?:\/\//.test(v)) {
    throw new ConfigError(`${name} must be a postgres:// or postgresql:// connection string, got ${JSON.stringify(redact(v))}`);
  }
  // Parsed as pg parses it (WHATWG URL, after encoding spaces and stray %), so a password with a
  // raw / or : fails here, with the fix, rather than as "Invalid URL" when connecting.
  const encoded = / |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(v) ? encodeURI(v).replace(/%25(\d\d)/g, "%$1") : v;
  let parsed: URL | undefined;
  for (const candidate of [encoded, encoded.replace("@/", "@___DUMMY___/")]) {
    try {
      parsed = new URL(candidate);
      break;
    } catch {
      // try the next form, as pg does
    }
  }
  const hint = "percent-encode the user name and password (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23)";
  if (!parsed) throw new ConfigError(`${name}=${JSON.stringify(redact(v))} is not a valid URL: ${hint}`);
  // A raw / in the password can still parse, as a host, a port and a database name with an @.
  if (parsed.pathname.includes("@") || /%40/i.test(parsed.pathname)) {
    throw new ConfigError(`${name}=${JSON.stringify(redact(v))} has an @ in its database name, likely a password with a raw /: ${hint}`);
  }
  return v;
}

function token(raw: string, name: string) {
  const v = raw.trim();
  if (!v) {
    throw new ConfigError(
      `${name} is set but blank: set it to a long random secret (e.g. the output of \`openssl rand -hex 32\`), or unset it to serve without a token`,
    );
  }
  return v;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function hosts(raw: string, name: string) {
  const out: string[] = [];
  for (const part of raw.split(",")) {
    const given = part.trim();
    if (!given) continue;
    let h = given.toLowerCase().replace(/\.$/, "");
    if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
    if (HOST_NAME.test(h) || isIP(h)) {
      out.push(h);
      continue;
    }
    throw new ConfigError(
      `${name}: ${JSON.stringify(given)} is not a host name: list names or addresses, comma-separated, without scheme or port (e.g. waymark.example.com,10.0.0.5)`,
    );
  }
  return out;
}

function modules(raw: string) {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

const SPECS: Record<string, Spec> = {
  WAYMARK_DATABASE_URL: {
    key: "databaseUrl",
    parse: url,
    fallback: () => undefined,
    doc: "PostgreSQL connection string; unset: the embedded server under .waymark/",
  },
  WAYMARK_WORKER_COUNT: { key: "workerCount", parse: int(1, 1024), fallback: cpus, doc: "child processes running actions" },
  WAYMARK_CONCURRENT_PER_WORKER: { key: "concurrentPerWorker", parse: int(1, 100_000), fallback: () => 10, doc: "concurrent actions per child" },
  WAYMARK_MAX_CONCURRENT_INSTANCES: {
    key: "maxConcurrentInstances",
    parse: int(1, 1_000_000),
    fallback: () => 500,
    doc: "instances held in memory per supervisor",
  },
  // One by default: shards share one event loop, so more of them only split the writes into
  // smaller batches (on 2 cores, 1 shard ran tiny 8% and fan-out 9% faster than 2). More help
  // when Postgres is far away: each shard keeps a write of its own in flight.
  WAYMARK_EXECUTOR_SHARDS: { key: "executorShards", parse: int(1, 256), fallback: () => 1, doc: "executor shards (write pipelines) per supervisor" },
  WAYMARK_USER_MODULE: { key: "userModules", parse: modules, fallback: () => [], doc: "comma-separated modules (paths or package names) the children preload" },
  WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: {
    key: "userModuleLoadTimeoutMs",
    parse: ms(1),
    fallback: () => 30_000,
    doc: "longest each user module may take to load in a child before the start fails",
  },
  WAYMARK_MAX_ACTION_LIFECYCLE: { key: "maxActionLifecycle", parse: int(1), fallback: () => undefined, doc: "actions per child before it is replaced" },
  WAYMARK_METRICS_ADDR: { key: "metricsAddr", parse: addr, fallback: () => undefined, doc: "serve Prometheus metrics at http://<addr>/metrics" },
  WAYMARK_TELEMETRY_MODULE: {
    key: "telemetryModule",
    parse: (raw: string) => raw.trim(),
    fallback: () => undefined,
    doc: "module the supervisor and its children import first, e.g. to register an OpenTelemetry SDK",
  },
  WAYMARK_WEBAPP_ENABLED: { key: "webappEnabled", parse: bool, fallback: () => false, doc: "serve the web app from waymark supervise" },
  WAYMARK_WEBAPP_ADDR: { key: "webappAddr", parse: addr, fallback: () => "127.0.0.1:24119", doc: "web app bind address" },
  WAYMARK_WEBAPP_TOKEN: {
    key: "webappToken",
    parse: token,
    parseBlank: true,
    fallback: () => undefined,
    doc: "token every web app route requires (blank is an error)",
  },
  WAYMARK_WEBAPP_INSECURE: {
    key: "webappInsecure",
    parse: bool,
    fallback: () => false,
    doc: "serve the web app on a non-loopback address without a token (else that refuses to start)",
  },
  WAYMARK_WEBAPP_ALLOWED_HOSTS: {
    key: "webappAllowedHosts",
    parse: hosts,
    fallback: () => [],
    doc: "comma-separated host names the web app answers to besides loopback and its bind address",
  },
  WAYMARK_POLL_INTERVAL_MS: { key: "pollIntervalMs", parse: ms(1), fallback: () => 100, doc: "fallback poll interval for runnable instances" },
  WAYMARK_INSTANCE_DONE_BATCH_SIZE: {
    key: "instanceDoneBatchSize",
    parse: int(1, 100_000),
    fallback: (_env, partial) => partial.maxConcurrentInstances ?? 500,
    doc: "instances written per persistence statement",
  },
  WAYMARK_PERSIST_INTERVAL_MS: { key: "persistIntervalMs", parse: ms(0), fallback: () => 500, doc: "longest wait of a non-urgent write" },
  WAYMARK_LOCK_TTL_MS: { key: "lockTtlMs", parse: ms(100), fallback: () => 15_000, doc: "lease time-to-live" },
  WAYMARK_LOCK_HEARTBEAT_MS: { key: "lockHeartbeatMs", parse: ms(10), fallback: () => 5_000, doc: "lease heartbeat interval" },
  WAYMARK_EVICT_SLEEP_THRESHOLD_MS: {
    key: "evictSleepThresholdMs",
    parse: ms(0),
    fallback: () => 10_000,
    doc: "sleeps longer than this leave memory; an instance waiting for a message or a child leaves after this long without progress",
  },
  WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: {
    key: "expiredLockReclaimerIntervalMs",
    parse: msAtLeastOne,
    fallback: () => 15_000,
    doc: "expired-lease sweep interval (min 1)",
  },
  WAYMARK_EXPIRED_LOCK_RECLAIMER_BATCH_SIZE: {
    key: "expiredLockReclaimerBatchSize",
    parse: (raw, name) => Math.max(1, int(0)(raw, name)),
    fallback: () => 1000,
    doc: "leases reclaimed per sweep (min 1)",
  },
  WAYMARK_SCHEDULER_POLL_INTERVAL_MS: { key: "schedulerPollIntervalMs", parse: ms(1), fallback: () => 1000, doc: "scheduler poll interval" },
  WAYMARK_SCHEDULER_BATCH_SIZE: { key: "schedulerBatchSize", parse: int(1, 100_000), fallback: () => 100, doc: "due schedules fired per pass" },
  WAYMARK_RUNNER_PROFILE_INTERVAL_MS: {
    key: "runnerProfileIntervalMs",
    parse: msAtLeastOne,
    fallback: () => 5000,
    doc: "worker status refresh interval (min 1)",
  },
  WAYMARK_GARBAGE_COLLECTOR_RETENTION_HOURS: {
    key: "garbageCollectorRetentionHours",
    parse: (raw, name) => {
      const n = Number(raw.trim());
      if (raw.trim() === "" || !Number.isFinite(n) || n < 0) {
        throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a number of hours >= 0`);
      }
      // Not a timer (the collector runs at most a minute apart), but Postgres's interval
      // arithmetic has a range: past it, every collection would fail.
      if (n > MAX_RETENTION_HOURS) throw new ConfigError(`${name}=${raw} is out of range: allowed is 0 to ${MAX_RETENTION_HOURS} hours (about 114 years)`);
      return n;
    },
    fallback: () => 24,
    doc: "hours finished instances are kept",
  },
  WAYMARK_SKIP_WAIT_FOR_INSTANCE: {
    key: "skipWaitForInstance",
    parse: bool,
    parseBlank: true,
    fallback: () => false,
    doc: "Workflow#run() returns right after queueing",
  },
  WAYMARK_LOG_LEVEL: { key: "logLevel", parse: oneOf(LOG_LEVELS), fallback: () => "info", doc: "debug, info, warn, error or silent" },
  WAYMARK_LOG_FORMAT: { key: "logFormat", parse: oneOf(["text", "json"] as const), fallback: () => "text", doc: "text or json" },
  WAYMARK_SHUTDOWN_GRACE_MS: { key: "shutdownGraceMs", parse: ms(0), fallback: () => 30_000, doc: "time in-flight actions get at shutdown" },
  WAYMARK_ABORT_GRACE_MS: { key: "abortGraceMs", parse: ms(0), fallback: () => 5_000, doc: "time an aborted action gets before its child is killed" },
  WAYMARK_WORKFLOW_STEP_LIMIT: {
    key: "workflowStepLimit",
    parse: int(1_000),
    fallback: () => DEFAULT_STEP_LIMIT,
    doc: "steps an instance may run without waiting before it fails",
  },
  WAYMARK_MAX_VALUE_BYTES: {
    key: "maxValueBytes",
    parse: int(1_024, 1_073_741_823),
    fallback: () => 10 * 2 ** 20,
    doc: "largest stored argument, result or payload",
  },
  WAYMARK_CRASH_LOOP_LIMIT: {
    key: "crashLoopLimit",
    parse: int(0, 1_000),
    fallback: () => 3,
    doc: "supervisor deaths in a row while running an instance after which it fails (0: never)",
  },
  WAYMARK_MAX_STATE_BYTES: {
    key: "maxStateBytes",
    parse: int(1_024, 1_073_741_823),
    fallback: () => 50 * 2 ** 20,
    doc: "largest written state of one instance",
  },
};

/** Variables that are ours but read elsewhere (tests, the bench) or have no meaning here. */
const OTHER_KNOWN: Record<string, string | null> = {
  WAYMARK_TEST_DATABASE_URL: null,
  WAYMARK_TEST_TEMPLATE: null,
  WAYMARK_CHILD: null,
  WAYMARK_CHILD_MODULES: null,
  WAYMARK_CHILD_CONCURRENCY: null,
  WAYMARK_CHILD_INSPECT: null,
  WAYMARK_CHILD_MAX_VALUE_BYTES: null,
  WAYMARK_BENCH: null,
  WAYMARK_WORKER_GRPC_ADDR: "has no meaning in waymark for TypeScript (there is no gRPC bridge)",
  WAYMARK_BRIDGE_GRPC_ADDR: "has no meaning in waymark for TypeScript (there is no gRPC bridge)",
  WAYMARK_BRIDGE_GRPC_HOST: "has no meaning in waymark for TypeScript (there is no gRPC bridge)",
  WAYMARK_BRIDGE_GRPC_PORT: "has no meaning in waymark for TypeScript (there is no gRPC bridge)",
  WAYMARK_BRIDGE_BASE_PORT: "has no meaning in waymark for TypeScript (there is no gRPC bridge)",
  WAYMARK_BRIDGE_IN_MEMORY: "has no meaning in waymark for TypeScript (there is no gRPC bridge)",
  WAYMARK_BOOT_COMMAND: "has no meaning in waymark for TypeScript (there is no bridge to boot)",
  WAYMARK_BOOT_BINARY: "has no meaning in waymark for TypeScript (there is no bridge to boot)",
};

/** Every variable waymark reads: the README's configuration table is checked against it (test/config/env.test.ts). */
export const ENV_DOCS: ReadonlyArray<{ name: string; doc: string }> = Object.entries(SPECS).map(([name, s]) => ({ name, doc: s.doc }));

export interface LoadedConfig {
  config: WaymarkConfig;
  /** Warnings worth logging once the logger exists (variables with no effect). */
  warnings: string[];
}

/**
 * Reads and validates every WAYMARK_* variable. Throws ConfigError naming the variable, the
 * value and what is allowed; an unknown WAYMARK_* variable is an error that suggests the
 * nearest known name, since a typo would otherwise silently do nothing.
 */
export function loadConfig(env: Env = process.env): LoadedConfig {
  const warnings: string[] = [];
  const known = [...Object.keys(SPECS), ...Object.keys(OTHER_KNOWN)];
  for (const name of Object.keys(env)) {
    if (!name.startsWith("WAYMARK_") || name in SPECS) continue;
    if (name in OTHER_KNOWN) {
      const note = OTHER_KNOWN[name];
      if (note) warnings.push(`${name} ${note}; it is ignored`);
      continue;
    }
    const hint = nearest(name, known);
    throw new ConfigError(`unknown variable ${name}${hint ? `: did you mean ${hint}?` : ""} (see the README's configuration table)`);
  }
  const partial: Partial<WaymarkConfig> = {};
  const pending: Array<[string, Spec]> = [];
  for (const [name, spec] of Object.entries(SPECS)) {
    const raw = env[name];
    if (raw === undefined || (raw.trim() === "" && !spec.parseBlank)) {
      pending.push([name, spec]);
      continue;
    }
    (partial as Record<string, unknown>)[spec.key] = spec.parse(raw, name, env);
  }
  for (const [, spec] of pending) {
    (partial as Record<string, unknown>)[spec.key] = spec.fallback(env, partial);
  }
  const config = partial as WaymarkConfig;
  if (config.lockHeartbeatMs >= config.lockTtlMs) {
    throw new ConfigError(
      `WAYMARK_LOCK_HEARTBEAT_MS=${config.lockHeartbeatMs} must be below WAYMARK_LOCK_TTL_MS=${config.lockTtlMs}, or leases expire between heartbeats`,
    );
  }
  return { config, warnings };
}
