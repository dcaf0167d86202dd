/**
 * Actions: the distributed work of a workflow. `action()` registers an async function under a
 * name; the workflow compiler refers to actions by that name, and the children look the name up
 * in this registry after loading WAYMARK_USER_MODULE. Inside a running action, `actionContext()`
 * and `depends()` give it its call's context and its dependencies.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { callerLocation } from "../compiler/source.js";
import { actionLimits, type ActionLimits } from "../core/flow.js";
import { RegistrationError, WaymarkError } from "../core/errors.js";
import { checkSize, decode, encode, errorToData, type Encoded, type ErrorData } from "../core/codec.js";

export interface ActionEntry {
  name: string;
  fn: (...args: never[]) => Promise<unknown>;
  /** Where `action()` was called, for error messages. */
  where: string;
  /** Its cluster-wide limits, if it has any. */
  limits?: ActionLimits;
}

const REGISTRY_KEY = Symbol.for("waymark.actions");

/** The limits of the registered actions that have any, by name (what a child reports). */
export function actionLimitsByName(): Record<string, ActionLimits> {
  const out: Record<string, ActionLimits> = {};
  for (const [name, entry] of actionRegistry()) if (entry.limits) out[name] = entry.limits;
  return out;
}
/** Marks the function `action()` returns, with its entry. */
const ACTION = Symbol.for("waymark.action");

type Registry = Map<string, ActionEntry>;

/** The registered entry behind a function `action()` returned, or undefined for any other value. */
export function actionEntryOf(fn: unknown): ActionEntry | undefined {
  return typeof fn === "function" ? (fn as { [ACTION]?: ActionEntry })[ACTION] : undefined;
}

/** One registry per process, shared by every copy of the waymark module. */
export function actionRegistry(): Registry {
  const g = globalThis as { [REGISTRY_KEY]?: Registry };
  return (g[REGISTRY_KEY] ??= new Map());
}

export interface ActionContext {
  /** The workflow instance this call belongs to. */
  instanceId: string;
  /** Names this call in this instance; the same across its attempts. */
  actionId: string;
  /** Counts from 1. */
  attempt: number;
  /** Aborts on timeout, cancellation and shutdown. */
  signal: AbortSignal;
  /**
   * Records this attempt's progress: the latest value is kept with the attempt, shown by the web
   * app and `waymark instances show`, and handed to the call's next attempt as `lastProgress`.
   * Cheap to call often: the worker sends at most a few a second.
   */
  progress(p: ActionProgress): void;
  /** The latest progress an earlier attempt of this call recorded (a retry can resume from it). */
  lastProgress: ActionProgress | undefined;
}

export interface ActionProgress {
  /** From 0 to 100. */
  percent?: number;
  /** Up to 1,000 characters. */
  message?: string;
  /** Any value waymark can store (as action arguments), up to 64 KiB encoded. */
  data?: unknown;
}

/** Checks a progress report: a bad one throws where it was made, naming what is wrong. */
export function progressCheck(p: unknown): ActionProgress {
  const bad = (what: string) => new TypeError(`actionContext().progress(): ${what}; pass { percent?: 0-100, message?: string, data?: storable value }`);
  if (typeof p !== "object" || p === null || Array.isArray(p)) throw bad("expected an object");
  for (const k of Object.keys(p)) if (k !== "percent" && k !== "message" && k !== "data") throw bad(`unknown field ${JSON.stringify(k)}`);
  const { percent, message } = p as ActionProgress;
  if (percent !== undefined && !(typeof percent === "number" && percent >= 0 && percent <= 100)) throw bad(`percent must be a number from 0 to 100`);
  if (message !== undefined && !(typeof message === "string" && message.length <= 1000)) throw bad("message must be a string of at most 1,000 characters");
  return p as ActionProgress;
}

interface Frame {
  context: ActionContext;
  /** Dependencies resolved in this call, and their clean-ups (made on first use). */
  deps: Map<unknown, Promise<unknown>> | undefined;
  cleanups: Array<() => Promise<void>> | undefined;
}

/**
 * The running action's frame. Like the registry, one per process: an action invoked by one copy
 * of the waymark module (the child's) must see its context from another (the user's import).
 */
const STORAGE_KEY = Symbol.for("waymark.actionFrames");
const storage: AsyncLocalStorage<Frame> = ((globalThis as { [STORAGE_KEY]?: AsyncLocalStorage<Frame> })[STORAGE_KEY] ??= new AsyncLocalStorage<Frame>());

/** Inside an action: which call of which instance this is, and its abort signal. */
export function actionContext(): ActionContext {
  const frame = storage.getStore();
  if (!frame) throw new WaymarkError("WAYMARK_NOT_IN_ACTION", "actionContext() can only be called while an action runs (inside a function passed to action())");
  const c = frame.context;
  // The signal is read when asked for: the worker makes its AbortController lazily.
  return {
    instanceId: c.instanceId,
    actionId: c.actionId,
    attempt: c.attempt,
    get signal() {
      return c.signal;
    },
    progress: (p) => c.progress(p),
    lastProgress: c.lastProgress,
  };
}

type Provider<T> = () => T | Promise<T> | AsyncGenerator<T, unknown, unknown> | Generator<T, unknown, unknown>;

function isGenerator(v: unknown): v is AsyncGenerator<unknown> | Generator<unknown> {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as { next?: unknown }).next === "function" &&
    typeof (v as { return?: unknown }).return === "function" &&
    (Symbol.asyncIterator in v || Symbol.iterator in v)
  );
}

/**
 * Resolves a dependency inside an action, once per action call however often it is asked for.
 * A generator provider sets up before `yield` and cleans up after the action finishes; its
 * `finally` blocks run even when the action throws.
 */
export async function depends<T>(provider: Provider<T>): Promise<T> {
  const frame = storage.getStore();
  if (!frame) throw new WaymarkError("WAYMARK_NOT_IN_ACTION", "depends() can only be called while an action runs (inside a function passed to action())");
  const deps = (frame.deps ??= new Map());
  let pending = deps.get(provider) as Promise<T> | undefined;
  if (!pending) {
    pending = (async () => {
      const made = provider();
      if (isGenerator(made)) {
        const first = await made.next();
        if (first.done)
          throw new WaymarkError("WAYMARK_REGISTRATION", `dependency provider ${provider.name || "(anonymous)"} returned without yielding a value`);
        (frame.cleanups ??= []).push(async () => {
          await made.return(undefined);
        });
        return first.value as T;
      }
      return (await made) as T;
    })();
    deps.set(provider, pending);
  }
  return pending;
}

/** Runs an action function with its context; dependency clean-ups run however it ends. */
export function actionInvoke(entry: ActionEntry, args: unknown[], context: ActionContext): Promise<unknown> {
  const frame: Frame = { context, deps: undefined, cleanups: undefined };
  return storage.run(frame, invokeInFrame, entry, args, frame);
}

async function invokeInFrame(entry: ActionEntry, args: unknown[], frame: Frame): Promise<unknown> {
  try {
    return await (entry.fn as (...a: unknown[]) => Promise<unknown>)(...args);
  } finally {
    if (frame.cleanups) {
      for (const cleanup of frame.cleanups.reverse()) {
        try {
          await cleanup();
        } catch {
          // A failing clean-up must not replace the action's own outcome.
        }
      }
    }
  }
}

/** One attempt of an action call, as it crosses to the one that runs it and back. */
export interface AttemptCall {
  action: string;
  args: Encoded[];
  instanceId: string;
  actionId: string;
  attempt: number;
  /** The latest progress an earlier attempt of the call recorded. */
  progress?: Encoded;
}

/**
 * What the runner of attempts provides, once for all its attempts (no closure per attempt): each
 * attempt's signal, where its progress goes, and a wrapper around its run (a span).
 */
export interface AttemptHooks<C extends AttemptCall = AttemptCall> {
  signal(call: C): AbortSignal;
  /** Receives an attempt's progress reports; without it they are checked and dropped. */
  progress?(call: C, p: ActionProgress): void;
  /** Wraps an attempt's run when it returns a function (a traced attempt runs in its span). */
  around?(call: C): (<T>(invoke: () => Promise<T>) => Promise<T>) | undefined;
}

export type AttemptOutcome = { ok: true; value: Encoded } | { ok: false; error: ErrorData };

/** An attempt's context: a class, so that its methods cost no closure per attempt. */
class AttemptContext<C extends AttemptCall> implements ActionContext {
  readonly instanceId: string;
  readonly actionId: string;
  readonly attempt: number;
  constructor(
    private readonly call: C,
    private readonly hooks: AttemptHooks<C>,
  ) {
    this.instanceId = call.instanceId;
    this.actionId = call.actionId;
    this.attempt = call.attempt;
  }
  get signal(): AbortSignal {
    return this.hooks.signal(this.call);
  }
  get lastProgress(): ActionProgress | undefined {
    return this.call.progress === undefined ? undefined : (decode(this.call.progress) as ActionProgress);
  }
  progress(p: ActionProgress): void {
    if (this.hooks.progress) this.hooks.progress(this.call, p);
    else progressCheck(p);
  }
}

/**
 * Runs one attempt as a worker does: the arguments decoded (fresh copies), the action run under
 * its context, its result encoded and size-checked, and any failure (a throw of anything, a result
 * that cannot be stored or is too large) given as error data. Never rejects. The child's runner
 * and waymark/testing both run actions through it.
 */
export async function actionAttempt<C extends AttemptCall>(
  entry: ActionEntry,
  call: C,
  hooks: AttemptHooks<C>,
  maxValueBytes: number,
): Promise<AttemptOutcome> {
  try {
    const args = call.args.map((a) => decode(a));
    const context = new AttemptContext(call, hooks);
    const around = hooks.around?.(call);
    const value = around ? await around(() => actionInvoke(entry, args, context)) : await actionInvoke(entry, args, context);
    const encoded = encode(value, `the result of action ${call.action}`);
    checkSize(encoded, `the result of action ${call.action}`, maxValueBytes);
    return { ok: true, value: encoded };
  } catch (e) {
    return { ok: false, error: errorToData(e) };
  }
}

let localCalls = 0;

/**
 * Any async function. Its parameters are `never[]` so that every async function fits (a parameter
 * list is checked contravariantly), and its result `unknown`: the action keeps its own type, F.
 */
type AsyncFunction = (...args: never[]) => Promise<unknown>;

/**
 * Registers an async function as an action. Called outside a workflow (a script, a unit test)
 * it simply runs.
 */
export function action<F extends AsyncFunction>(fn: F, options?: ActionLimits): F;
export function action<F extends AsyncFunction>(name: string, fn: F, options?: ActionLimits): F;
export function action<F extends AsyncFunction>(nameOrFn: string | F, fnOrOptions?: F | ActionLimits, maybeOptions?: ActionLimits): F {
  const fn = typeof nameOrFn === "function" ? nameOrFn : (fnOrOptions as F | undefined);
  const options = typeof nameOrFn === "function" ? fnOrOptions : maybeOptions;
  const loc = callerLocation();
  const where = loc ? `${loc.file}:${loc.line}:${loc.column}` : "<unknown>";
  if (typeof fn !== "function") throw new RegistrationError(`action() needs a function (at ${where})`);
  const name = typeof nameOrFn === "string" ? nameOrFn : fn.name;
  if (!name) {
    throw new RegistrationError(
      `an action needs a name (at ${where}): use a named function, \`action(async function sendEmail(...) {...})\`, or pass one, \`action("sendEmail", async (...) => {...})\``,
    );
  }
  const registry = actionRegistry();
  const existing = registry.get(name);
  if (existing && existing.where !== where) {
    throw new RegistrationError(
      `two actions are named "${name}": one at ${existing.where}, one at ${where}. Give one of them an explicit name: action("billing.${name}", fn)`,
    );
  }
  let limits: ActionLimits | undefined;
  try {
    limits = actionLimits(options);
  } catch (e) {
    throw new RegistrationError(`action "${name}" (at ${where}): ${(e as Error).message}`);
  }
  const entry: ActionEntry = { name, fn, where, ...(limits ? { limits } : {}) };
  registry.set(name, entry);
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const signal = new AbortController().signal;
    return actionInvoke(entry, args, {
      instanceId: "local",
      actionId: `local-${++localCalls}`,
      attempt: 1,
      signal,
      // Run as a plain function: progress is checked, and goes nowhere.
      progress: (p) => void progressCheck(p),
      lastProgress: undefined,
    });
  };
  Object.defineProperty(wrapper, "name", { value: name });
  Object.defineProperty(wrapper, ACTION, { value: entry });
  return wrapper as unknown as F;
}
