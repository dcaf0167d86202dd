/**
 * The SDK's process-wide connection. The connection (sdk/connection.ts, with pg and the store)
 * loads on first use, not at import: a process that only defines workflows and actions (an
 * action child) never loads pg.
 */
import type { WaymarkClient } from "./connection.js";

export type { WaymarkClient };
import { sdkConfigReset } from "./settings.js";
import { hostCount, testingRefusal } from "../core/hosts.js";
export { sdkConfig, type StartOptions } from "./settings.js";

let shared: Promise<WaymarkClient> | undefined;

/**
 * The process-wide client, connected on first use (pg and the store load then, not at import).
 * Refused while a waymark/testing environment is open in this process (core/hosts.ts).
 */
export function sharedClient(): Promise<WaymarkClient> {
  if (hostCount("testing") > 0) return Promise.reject(testingRefusal());
  shared ??= import("./connection.js").then((m) => m.connect());
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}

/**
 * Closes the shared connection (tests, scripts that want a clean exit). The next use connects
 * again, reading the environment afresh.
 */
export async function closeClient(): Promise<void> {
  const c = shared;
  shared = undefined;
  sdkConfigReset();
  if (c) await (await c).close();
}
