/**
 * The child's side of running actions: each task's action is looked up in this process's
 * registry and run under its context (attempt, abort signal) with bounded concurrency, and the
 * results go back encoded, size-checked and batched per tick. Every task ends in exactly one
 * result: a failure of any kind (an unknown action, an oversized result) is sent as error data,
 * never thrown out of the runner.
 */
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import PQueue from "p-queue";
import { contextOf, tracer } from "../core/trace.js";
import { actionAttempt, type AttemptHooks, actionRegistry, progressCheck } from "../sdk/action.js";
import { checkSize, DEFAULT_MAX_VALUE_BYTES, type Encoded, encode, errorToData } from "../core/codec.js";
import { abortReason, RegistrationError } from "../core/errors.js";
import type { Task, TaskResult } from "./protocol.js";

/** How often a worker sends the progress its actions report (the latest per attempt). */
const PROGRESS_MS = 250;

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
 * Runs an attempt of a traced instance inside a span of its own, child of the instance's span:
 * `trace.getActiveSpan()` in the action is this span, and the app's own instrumentation (pg,
 * http) nests under it.
 */
async function traced<T>(task: Task, invoke: () => Promise<T>): Promise<T> {
  const parent = contextOf(task.trace) ?? context.active();
  const span = tracer().startSpan(
    `waymark.action ${task.action}`,
    {
      attributes: {
        "waymark.action": task.action,
        "waymark.instance_id": task.instanceId,
        "waymark.action_id": task.actionId,
        "waymark.attempt": task.attempt,
      },
    },
    parent,
  );
  try {
    const value = await context.with(trace.setSpan(parent, span), invoke);
    span.setAttribute("waymark.outcome", "completed");
    return value;
  } catch (e) {
    span.setAttribute("waymark.outcome", "failed");
    // A thrown non-error is described by its type: its own toString is not called here.
    const message = e instanceof Error ? e.message : `a ${typeof e} was thrown`;
    span.recordException(e instanceof Error ? e : { name: "NonError", message });
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    throw e;
  } finally {
    span.end();
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
  /** The latest progress of each attempt not yet sent, and the timer that sends them. */
  private readonly progressOut = new Map<string, Encoded>();
  private progressTimer: NodeJS.Timeout | undefined;
  /** One set of hooks for every attempt: the signal by the task's token, its progress, its span. */
  private readonly hooks: AttemptHooks<Task> = {
    signal: (task) => this.controllers.get(task.id)?.signal ?? AbortSignal.abort(new Error("the attempt has ended")),
    progress: (task, p) => this.progress(task, p),
    around: (task) => (task.trace ? (invoke) => traced(task, invoke) : undefined),
  };

  constructor(
    concurrency: number,
    private readonly sendResults: (results: TaskResult[]) => void,
    private readonly maxValueBytes = DEFAULT_MAX_VALUE_BYTES,
    private readonly sendProgress: (items: Array<{ id: string; progress: Encoded }>) => void = () => undefined,
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

  /** An action reported progress: checked and encoded here, sent with the others every PROGRESS_MS. */
  private progress(task: Task, p: unknown): void {
    const checked = progressCheck(p);
    const encoded = encode(checked, `the progress of action ${task.action}`);
    checkSize(encoded, `the progress of action ${task.action}`, Math.min(this.maxValueBytes, 64 * 1024));
    if (!this.controllers.has(task.id)) return; // reported after the attempt ended
    this.progressOut.set(task.id, encoded);
    this.progressTimer ??= setTimeout(() => this.flushProgress(), PROGRESS_MS);
  }

  private flushProgress(): void {
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    if (!this.progressOut.size) return;
    const items = [...this.progressOut].map(([id, progress]) => ({ id, progress }));
    this.progressOut.clear();
    this.sendProgress(items);
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
      const outcome = await actionAttempt(entry, task, this.hooks, this.maxValueBytes);
      result = outcome.ok ? { id: task.id, ok: true, value: outcome.value } : { id: task.id, ok: false, error: outcome.error };
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
    // An attempt's last progress goes before its result.
    if (this.progressOut.size && this.outbox.some((r) => this.progressOut.has(r.id))) this.flushProgress();
    const batch = this.outbox;
    this.outbox = [];
    this.sendResults(batch);
  }
}
