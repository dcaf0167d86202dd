/**
 * waymark/testing: workflows tested in memory, in this process, on a virtual clock, with the
 * production compiler, interpreter, codec and semantics (README "Testing your workflows").
 */
export { TestEnvironment, type TestEnvironmentOptions, type TestInstanceInfo } from "./environment.js";
export type { ActionCall, AttemptStatus, MockOptions } from "./actions.js";
