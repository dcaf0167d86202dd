import { EventEmitter } from "node:events";
import type { ErrorData } from "./codec.js";

/**
 * Lifecycle events of a supervisor. The logger, the status row and the web app subscribe;
 * the executor only emits.
 */
export interface SupervisorEventMap {
  "instance.started": [{ id: string; workflow: string; resumed: boolean }];
  "instance.finished": [{ id: string; workflow: string; status: string }];
  "action.failed": [{ id: string; action: string; attempt: number; error: ErrorData }];
}

export class SupervisorEvents extends EventEmitter<SupervisorEventMap> {}
