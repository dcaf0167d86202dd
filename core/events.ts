/**
 * Lifecycle events of a supervisor, emitted by its shards. In process only: the supervisor
 * subscribes to claim again when a finished instance frees room, and its embedded web app to
 * wake the live view early; a `waymark web` of its own hears none of them and polls.
 */
import { EventEmitter } from "node:events";
import type { ErrorData } from "./codec.js";

export interface SupervisorEventMap {
  "instance.started": [{ id: string; workflow: string; resumed: boolean }];
  "instance.finished": [{ id: string; workflow: string; status: string }];
  /** It left memory unfinished (asleep, waiting for a message, or back to the queue): its room is free; `wakeAt`: when it is due again, if it has a deadline. */
  "instance.left": [{ id: string; workflow: string; wakeAt?: number }];
  "action.failed": [{ id: string; action: string; attempt: number; error: ErrorData }];
}

export class SupervisorEvents extends EventEmitter<SupervisorEventMap> {}
