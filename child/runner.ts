/**
 * The child's side of running actions: each task's action is looked up in this process's
 * registry and run under its context (attempt, abort signal) with bounded concurrency, and the
 * results go back encoded, size-checked and batched per tick. Every task ends in exactly one
 * result: a failure of any kind (an unknown action, an oversized result) is sent as error data,
 * never thrown out of the runner.
 */
import PQueue from "p-queue";
import { actionAttempt, actionRegistry } from "../sdk/action.js";
import { DEFAULT_MAX_VALUE_BYTES, errorToData } from "../core/codec.js";
import { abortReason, RegistrationError } from "../core/errors.js";
import type { Task, TaskResult } from "./protocol.js";

/**
 * An AbortController made only when the action asks for its signal: creating one costs more than
 * running a no-op action, and most actions never look at it.
 */
class LazyAbort {
  aborted = false;
  reason: unknown;
  private controller: AbortController | undefined;
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/**
 * Runs tasks with bounded concurrency (p-queue), each with an AbortController the supervisor
 * can fire, and sends results back batched per tick.
 */
export class TaskRunner {
  private readonly queue: PQueue;
  private readonly controllers = new Map<string, LazyAbort>();
  private outbox: TaskResult[] = [];
  private scheduled = false;

  constructor(
    concurrency: number,
    private readonly sendResults: (results: TaskResult[]) => void,
    private readonly maxValueBytes = DEFAULT_MAX_VALUE_BYTES,
  ) {
    this.queue = new PQueue({ concurrency });
  }

  run(tasks: Task[]): void {
    for (const task of tasks) {
      const controller = new LazyAbort();
      this.controllers.set(task.id, controller);
      void this.queue.add(() => this.execute(task, controller));
    }
  }

  abort(ids: string[], reason: "timeout" | "cancelled" | "shutdown"): void {
    for (const id of ids) {
      const c = this.controllers.get(id);
      if (c && !c.aborted) c.abort(abortReason(reason));
    }
  }

  /** Resolves when every accepted task has settled. */
  async drain(): Promise<void> {
    await this.queue.onIdle();
    this.flush();
  }

  private async execute(task: Task, controller: LazyAbort): Promise<void> {
    let result: TaskResult;
    try {
      // Aborted while it waited for a slot (cancelled, or the worker is stopping): never start it.
      if (controller.aborted) throw controller.reason;
      const entry = actionRegistry().get(task.action);
      if (!entry) {
        throw new RegistrationError(
          `action "${task.action}" is not registered in this worker: add the module that defines it to WAYMARK_USER_MODULE (registered here: ${[...actionRegistry().keys()].join(", ") || "none"})`,
        );
      }
      result = { id: task.id, ...(await actionAttempt(entry, task, () => controller.signal, this.maxValueBytes)) };
    } catch (e) {
      result = { id: task.id, ok: false, error: errorToData(e) };
    } finally {
      this.controllers.delete(task.id);
    }
    this.outbox.push(result);
    if (!this.scheduled) {
      this.scheduled = true;
      // Idle: send after the current microtasks (latency). Busy: after this turn of the event
      // loop, so results settling meanwhile share the message (throughput).
      if (this.queue.size > 0) setImmediate(() => this.flush());
      else process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (!this.outbox.length) return;
    const batch = this.outbox;
    this.outbox = [];
    this.sendResults(batch);
  }
}
