import test from "ava";
import { ConfigError, ENV_DOCS, loadConfig, MAX_TIMER_MS } from "../../config/env.js";

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
  const { config } = loadConfig({
    WAYMARK_MAX_CONCURRENT_INSTANCES: "40",
    WAYMARK_USER_MODULE: " ./a.ts, pkg ",
    WAYMARK_WEBAPP_ENABLED: "yes",
    WAYMARK_LOG_LEVEL: "DEBUG",
  });
  t.is(config.instanceDoneBatchSize, 40);
  t.deepEqual(config.userModules, ["./a.ts", "pkg"]);
  t.true(config.webappEnabled);
  t.is(config.logLevel, "debug");
});

test("a bad value names the variable, the value and what is allowed", (t) => {
  t.throws(() => loadConfig({ WAYMARK_WORKER_COUNT: "0" }), {
    instanceOf: ConfigError,
    message: /WAYMARK_WORKER_COUNT=0 is out of range: allowed is 1 to 1024/,
  });
  t.throws(() => loadConfig({ WAYMARK_POLL_INTERVAL_MS: "fast" }), { message: /WAYMARK_POLL_INTERVAL_MS="fast" is not a whole number/ });
  t.throws(() => loadConfig({ WAYMARK_LOG_LEVEL: "verbose" }), {
    message: /WAYMARK_LOG_LEVEL="verbose" is not allowed: use one of debug, info, warn, error, silent/,
  });
  t.throws(() => loadConfig({ WAYMARK_LOG_LEVEL: "inf" }), { message: /did you mean info\?/ });
  t.throws(() => loadConfig({ WAYMARK_DATABASE_URL: "mysql://x" }), { message: /must be a postgres:\/\/ or postgresql:\/\/ connection string/ });
  t.throws(() => loadConfig({ WAYMARK_WEBAPP_ADDR: "localhost" }), { message: /not a host:port address/ });
  t.throws(() => loadConfig({ WAYMARK_LOCK_TTL_MS: "1000", WAYMARK_LOCK_HEARTBEAT_MS: "2000" }), { message: /must be below WAYMARK_LOCK_TTL_MS/ });
});

test("an unknown WAYMARK_ variable suggests the nearest name; the Python original's bridge variables only warn", (t) => {
  t.throws(() => loadConfig({ WAYMARK_MAX_ACTION_LIFECYLE: "10" }), {
    message: /unknown variable WAYMARK_MAX_ACTION_LIFECYLE: did you mean WAYMARK_MAX_ACTION_LIFECYCLE\?/,
  });
  const { warnings } = loadConfig({ WAYMARK_BRIDGE_GRPC_ADDR: "x" });
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /no meaning in waymark for TypeScript/);
});

test("reclaimer and profile intervals are clamped to at least 1, as the seed says", (t) => {
  const { config } = loadConfig({
    WAYMARK_EXPIRED_LOCK_RECLAIMER_INTERVAL_MS: "0",
    WAYMARK_RUNNER_PROFILE_INTERVAL_MS: "0",
    WAYMARK_EXPIRED_LOCK_RECLAIMER_BATCH_SIZE: "0",
  });
  t.is(config.expiredLockReclaimerIntervalMs, 1);
  t.is(config.runnerProfileIntervalMs, 1);
  t.is(config.expiredLockReclaimerBatchSize, 1);
});

test("the web app's token: surrounding whitespace dropped, blank refused", (t) => {
  t.is(loadConfig({ WAYMARK_WEBAPP_TOKEN: "  a-long-random-secret-value \n" }).config.webappToken, "a-long-random-secret-value");
  t.is(loadConfig({}).config.webappToken, undefined);
  for (const blank of ["", " ", "\t\n"]) {
    t.throws(() => loadConfig({ WAYMARK_WEBAPP_TOKEN: blank }), {
      instanceOf: ConfigError,
      message: /WAYMARK_WEBAPP_TOKEN is set but blank: set it to a long random secret/,
    });
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
    t.throws(
      () => loadConfig({ WAYMARK_WEBAPP_ALLOWED_HOSTS: `ok.example,${bad}` }),
      {
        instanceOf: ConfigError,
        message: /WAYMARK_WEBAPP_ALLOWED_HOSTS: ".*" is not a host name: list names or addresses, comma-separated, without scheme or port/,
      },
      bad,
    );
  }
});

const DURATIONS = ENV_DOCS.map((d) => d.name).filter((name) => name.endsWith("_MS"));

test("every duration variable refuses more than 2,147,483,647 ms (Node would fire such a timer after 1 ms), naming the variable, the value and the range", (t) => {
  t.true(DURATIONS.length >= 11, DURATIONS.join(", "));
  t.is(MAX_TIMER_MS, 2 ** 31 - 1);
  for (const name of DURATIONS) {
    for (const value of ["2147483648", "3000000000", "99999999999999999999"]) {
      const e = t.throws(() => loadConfig({ [name]: value }), { instanceOf: ConfigError }, `${name}=${value}`);
      t.regex(e?.message ?? "", new RegExp(`^${name}=${value} is out of range: allowed is \\d+ to 2147483647 ms`), name);
    }
  }
});

test("the longest timer Node can hold is accepted, for every duration variable", (t) => {
  for (const name of DURATIONS) {
    // The heartbeat must stay below the lease TTL.
    const env: Record<string, string> =
      name === "WAYMARK_LOCK_HEARTBEAT_MS" ? { [name]: "2147483646", WAYMARK_LOCK_TTL_MS: "2147483647" } : { [name]: "2147483647" };
    const { config } = loadConfig(env);
    t.true(Object.values(config).includes(Number(env[name])), name);
  }
});

test("the retention period is bounded too: a value Postgres's interval arithmetic cannot hold is refused", (t) => {
  t.is(loadConfig({ WAYMARK_GARBAGE_COLLECTOR_RETENTION_HOURS: "8760" }).config.garbageCollectorRetentionHours, 8760);
  t.throws(() => loadConfig({ WAYMARK_GARBAGE_COLLECTOR_RETENTION_HOURS: "1e20" }), {
    instanceOf: ConfigError,
    message: /WAYMARK_GARBAGE_COLLECTOR_RETENTION_HOURS=1e20 is out of range: allowed is 0 to 1000000 hours/,
  });
});

test("WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: 30 s by default, a whole number of ms otherwise", (t) => {
  t.is(loadConfig({}).config.userModuleLoadTimeoutMs, 30_000);
  t.is(loadConfig({ WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: "500" }).config.userModuleLoadTimeoutMs, 500);
  t.throws(() => loadConfig({ WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: "0" }), {
    message: /WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS=0 is out of range: allowed is 1 to 2147483647 ms/,
  });
  t.throws(() => loadConfig({ WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: "soon" }), { message: /WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS="soon" is not a whole number/ });
});

test("a database URL that pg could not parse is refused at start-up with the fix, its password hidden", (t) => {
  const raw = t.throws(() => loadConfig({ WAYMARK_DATABASE_URL: "postgres://app:p@ss:w/rd@db.internal:5432/app" }), { instanceOf: ConfigError });
  t.regex(raw?.message ?? "", /^WAYMARK_DATABASE_URL="postgres:\/\/app:\*\*\*@db\.internal:5432\/app" is not a valid URL: percent-encode/);
  const slash = t.throws(() => loadConfig({ WAYMARK_DATABASE_URL: "postgres://app:123/secret@db.internal/app" }), { instanceOf: ConfigError });
  t.regex(slash?.message ?? "", /has an @ in its database name, likely a password with a raw \//);
  for (const e of [raw, slash]) t.notRegex(e?.message ?? "", /secret|p@ss|w\/rd/);
  const scheme = t.throws(() => loadConfig({ WAYMARK_DATABASE_URL: "app:secret@db.internal/app" }), { instanceOf: ConfigError });
  t.notRegex(scheme?.message ?? "", /secret/);
  // Encoded, or with a raw @ (the last @ ends the user part), it is accepted as it is.
  for (const ok of [
    "postgres://app:p%40ss%3Aw%2Frd@db.internal:5432/app",
    "postgres://app:p@ss@db.internal/app?sslmode=require",
    "postgresql://db.internal/app",
  ]) {
    t.is(loadConfig({ WAYMARK_DATABASE_URL: ok }).config.databaseUrl, ok);
  }
});

test("the README's configuration table lists every variable, with its default", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## How it works"));
  for (const { name } of ENV_DOCS)
    t.regex(table, new RegExp(`^\\| \`${name}\` \\| [^|]+ \\|`, "m"), `${name} is missing from the README's configuration table`);
  t.regex(table, /^\| `WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS` \| 30000 \|/m);
});
