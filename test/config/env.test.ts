import test from "ava";
import { ConfigError, loadConfig } from "../../config/env.js";

test("defaults follow the seed's table", (t) => {
  const { config } = loadConfig({});
  t.is(config.concurrentPerWorker, 10);
  t.is(config.maxConcurrentInstances, 500);
  t.is(config.instanceDoneBatchSize, 500);
  t.is(config.pollIntervalMs, 100);
  t.is(config.persistIntervalMs, 500);
  t.is(config.lockTtlMs, 15_000);
  t.is(config.lockHeartbeatMs, 5000);
  t.is(config.evictSleepThresholdMs, 10_000);
  t.is(config.webappAddr, "127.0.0.1:24119");
  t.is(config.webappEnabled, false);
  t.is(config.garbageCollectorRetentionHours, 24);
  t.is(config.logLevel, "info");
  t.deepEqual(config.userModules, []);
  t.is(config.maxActionLifecycle, undefined);
});

test("values are parsed and the batch size follows the instance cap", (t) => {
  const { config } = loadConfig({ WAYMARK_MAX_CONCURRENT_INSTANCES: "40", WAYMARK_USER_MODULE: " ./a.ts, pkg ", WAYMARK_WEBAPP_ENABLED: "yes", WAYMARK_LOG_LEVEL: "DEBUG" });
  t.is(config.instanceDoneBatchSize, 40);
  t.deepEqual(config.userModules, ["./a.ts", "pkg"]);
  t.true(config.webappEnabled);
  t.is(config.logLevel, "debug");
});

test("a bad value names the variable, the value and what is allowed", (t) => {
  t.throws(() => loadConfig({ WAYMARK_WORKER_COUNT: "0" }), { instanceOf: ConfigError, message: /WAYMARK_WORKER_COUNT=0 is out of range: allowed is 1 to 1024/ });
  t.throws(() => loadConfig({ WAYMARK_POLL_INTERVAL_MS: "fast" }), { message: /WAYMARK_POLL_INTERVAL_MS="fast" is not a whole number/ });
  t.throws(() => loadConfig({ WAYMARK_LOG_LEVEL: "verbose" }), { message: /WAYMARK_LOG_LEVEL="verbose" is not allowed: use one of debug, info, warn, error, silent/ });
  t.throws(() => loadConfig({ WAYMARK_LOG_LEVEL: "inf" }), { message: /did you mean info\?/ });
  t.throws(() => loadConfig({ WAYMARK_DATABASE_URL: "mysql://x" }), { message: /must be a postgres:\/\/ or postgresql:\/\/ connection string/ });
  t.throws(() => loadConfig({ WAYMARK_WEBAPP_ADDR: "localhost" }), { message: /not a host:port address/ });
  t.throws(() => loadConfig({ WAYMARK_LOCK_TTL_MS: "1000", WAYMARK_LOCK_HEARTBEAT_MS: "2000" }), { message: /must be below WAYMARK_LOCK_TTL_MS/ });
});

test("an unknown WAYMARK_ variable suggests the nearest name; the Python original's bridge variables only warn", (t) => {
  t.throws(() => loadConfig({ WAYMARK_MAX_ACTION_LIFECYLE: "10" }), { message: /unknown variable WAYMARK_MAX_ACTION_LIFECYLE: did you mean WAYMARK_MAX_ACTION_LIFECYCLE\?/ });
  const { warnings } = loadConfig({ WAYMARK_BRIDGE_GRPC_ADDR: "x" });
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /no meaning in waymark for TypeScript/);
});

test("reclaimer and profile intervals are clamped to at least 1, as the seed says", (t) => {
  const { config } = loadConfig({ WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "0", WAYMARK_RUNNER_PROFILE_INTERVAL_MS: "0", WAYMARK_EXPIRED_LOCK_RECLAIMER_BATCH_SIZE: "0" });
  t.is(config.expiredLockReclaimerIntervalMs, 1);
  t.is(config.runnerProfileIntervalMs, 1);
  t.is(config.expiredLockReclaimerBatchSize, 1);
});

test("the web app's token: surrounding whitespace dropped, blank refused", (t) => {
  t.is(loadConfig({ WAYMARK_WEBAPP_TOKEN: "  a-long-random-secret-value \n" }).config.webappToken, "a-long-random-secret-value");
  t.is(loadConfig({}).config.webappToken, undefined);
  for (const blank of ["", " ", "\t\n"]) {
    t.throws(() => loadConfig({ WAYMARK_WEBAPP_TOKEN: blank }), { instanceOf: ConfigError, message: /WAYMARK_WEBAPP_TOKEN is set but blank: set it to a long random secret/ });
  }
});

test("WAYMARK_WEBAPP_INSECURE is a boolean, off by default", (t) => {
  t.false(loadConfig({}).config.webappInsecure);
  t.true(loadConfig({ WAYMARK_WEBAPP_INSECURE: "true" }).config.webappInsecure);
  t.throws(() => loadConfig({ WAYMARK_WEBAPP_INSECURE: "sure" }), { message: /WAYMARK_WEBAPP_INSECURE="sure" is not a boolean/ });
});

test("WAYMARK_WEBAPP_ALLOWED_HOSTS: comma-separated names and addresses, normalised; a URL or a port is refused", (t) => {
  t.deepEqual(loadConfig({}).config.webappAllowedHosts, []);
  t.deepEqual(loadConfig({ WAYMARK_WEBAPP_ALLOWED_HOSTS: " Waymark.Example.com., 10.0.0.5,,[fd00::1], ::2 " }).config.webappAllowedHosts, [
    "waymark.example.com",
    "10.0.0.5",
    "fd00::1",
    "::2",
  ]);
  for (const bad of ["https://waymark.example.com", "waymark.example.com:8080", "10.0.0.5:8080", "[::1]:80", "a b", "*", "a..b", "-x.example"]) {
    t.throws(() => loadConfig({ WAYMARK_WEBAPP_ALLOWED_HOSTS: `ok.example,${bad}` }), {
      instanceOf: ConfigError,
      message: /WAYMARK_WEBAPP_ALLOWED_HOSTS: ".*" is not a host name: list names or addresses, comma-separated, without scheme or port/,
    }, bad);
  }
});
