/**
 * Starts a real `waymark supervise` process (the built CLI), as a user would, and waits for it
 * to be running: the readiness line on stderr is the event, not a sleep.
 */
import { execa, type ResultPromise } from "execa";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface SupervisorProcess {
  pid: number;
  /** Everything it wrote to stderr so far. */
  output(): string;
  /** Resolves when a line matching `pattern` appears on stderr. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then wait for the exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | undefined>;
  /** kill -9. */
  kill(): Promise<void>;
  /** `promise`, or a rejection with the supervisor's output if it exits first (a crash fails the test instead of hanging it). */
  alive<T>(promise: Promise<T>): Promise<T>;
  exited: Promise<{ exitCode?: number; signal?: string }>;
}

export async function supervise(params: {
  databaseUrl?: string;
  modules: string[];
  env?: Record<string, string>;
  cwd?: string;
  ready?: boolean;
}): Promise<SupervisorProcess> {
  const env: Record<string, string> = {
    WAYMARK_USER_MODULE: params.modules.join(","),
    WAYMARK_WORKER_COUNT: "2",
    WAYMARK_EXECUTOR_SHARDS: "2",
    WAYMARK_LOG_LEVEL: "info",
    WAYMARK_SHUTDOWN_GRACE_MS: "5000",
    ...params.env,
  };
  if (params.databaseUrl) env.WAYMARK_DATABASE_URL = params.databaseUrl;
  // The test runner's own variables are not the supervisor's business.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const proc: ResultPromise = execa(process.execPath, ["--enable-source-maps", CLI, "supervise"], {
    env: { ...inherited, ...env },
    extendEnv: false,
    cwd: params.cwd ?? ROOT,
    reject: false,
    stdout: "pipe",
    stderr: "pipe",
    cleanup: true,
    // stop() tests the supervisor's own shutdown: execa must not SIGKILL it after 5 s (a hang
    // shows as the test's timeout instead, with the supervisor's output).
    forceKillAfterDelay: false,
  });
  let out = "";
  // A test that hangs ends in ava's timeout, which prints no supervisor output: with
  // SUPERVISOR_LOGS_DIR=<dir>, every supervisor's output is also written there.
  const logDir = process.env.SUPERVISOR_LOGS_DIR;
  if (logDir) {
    const file = createWriteStream(path.join(logDir, `supervise-${proc.pid}.log`));
    proc.stderr!.pipe(file);
  }
  const listeners = new Set<() => void>();
  proc.stderr!.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const l of listeners) l();
  });
  proc.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const l of listeners) l();
  });
  const exited = proc.then((r) => ({ exitCode: r.exitCode, signal: r.signal }));
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(out);
        if (m) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m[0]);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out waiting for ${pattern} from waymark supervise; its output:\n${out}`));
      }, timeoutMs);
      listeners.add(check);
      void exited.then(() => {
        if (listeners.has(check)) {
          listeners.delete(check);
          clearTimeout(timer);
          check();
          reject(new Error(`waymark supervise exited before printing ${pattern}; its output:\n${out}`));
        }
      });
      check();
    });
  const handle: SupervisorProcess = {
    pid: proc.pid!,
    output: () => out,
    waitFor,
    exited,
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      return (await exited).exitCode;
    },
    async kill() {
      proc.kill("SIGKILL");
      await exited;
    },
    alive<T>(promise: Promise<T>): Promise<T> {
      const died = exited.then((r): never => {
        throw new Error(`waymark supervise exited (code ${r.exitCode ?? r.signal}) while the test waited; its output:\n${out}`);
      });
      return Promise.race([promise, died]);
    },
  };
  if (params.ready !== false) await waitFor(/waymark supervise is running/);
  return handle;
}
