/**
 * waymark: durable workflows for Node.js on Postgres.
 */
export { action, actionContext, depends, type ActionContext, type ActionProgress } from "./action.js";
export type { ActionLimits } from "../core/flow.js";
export { Workflow, workflow, runInline, type ActionCallOptions, type WorkflowOptions } from "./workflow.js";
export { WorkflowHandle, getInstance, sendEvent, type SendEventOptions } from "./handle.js";
export { sleep } from "./sleep.js";
export { log, type WorkflowLogger } from "./log.js";
export { waitForEvent, publish } from "./events.js";
export { RetryPolicy, BackoffPolicy, type RetryPolicyOptions, type BackoffPolicyOptions } from "./policies.js";
export { closeClient as close, type StartOptions } from "./client.js";
export { scheduleWorkflow, pauseSchedule, resumeSchedule, deleteSchedule, listSchedules, type ScheduleOptions, type ScheduleInfo } from "./schedules.js";
export { ScheduleError } from "./cadence.js";
export {
  WaymarkError,
  UnsupportedPatternError,
  WorkflowFailedError,
  WorkflowCancelledError,
  ActionTimeout,
  SerializationError,
  RegistrationError,
  InstanceNotFoundError,
  InstanceFinishedError,
  isWaymarkError,
  type WaymarkErrorCode,
} from "../core/errors.js";
export type { InstanceStatus } from "../store/instances.js";
