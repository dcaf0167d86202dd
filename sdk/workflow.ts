import { createRequire } from "node:module";
import type * as VisualizeModule from "../compiler/visualize.js";
import type { VisualizeFormat } from "../compiler/visualize.js";
import type * as CompilerModule from "../compiler/workflow.js";
import { actionRegistry } from "./action.js";
import { sdkConfig, sharedClient, type StartOptions } from "./client.js";
import { compilesLazily, DEFINITION, definitionOf, workflowRegister, type WorkflowDefinition } from "./definition.js";
import { callerFile } from "../compiler/source.js";
import { RegistrationError } from "../core/errors.js";
import { WorkflowHandle } from "./handle.js";
import type { BackoffPolicy, RetryPolicy } from "./policies.js";

/** Options of one action call: `await this.runAction(act(x), { retry, backoff, timeoutMs })`. */
export interface ActionCallOptions {
  retry?: RetryPolicy | { attempts: number; exceptionTypes?: string[] };
  backoff?: BackoffPolicy | { baseDelayMs: number; multiplier?: number; maxDelayMs?: number; jitter?: boolean };
  timeoutMs?: number;
  /** For an action with limits: the key whose budget this call counts against (a tenant, a merchant). */
  limitKey?: string;
}

/** The arguments of a workflow's `run()`, as `start()` takes them. */
export type RunArgs<W> = W extends { run(...args: infer A): unknown } ? A : unknown[];
/** What a workflow's `run()` resolves to. */
export type RunResult<W> = W extends { run(...args: never[]): Promise<infer R> } ? R : unknown;

/**
 * The base class of workflows. Subclasses define `async run(...)`; `@workflow` compiles it and
 * makes `run()` queue an instance and wait for its result, so the body never runs in the caller.
 *
 * Instance properties `retry`, `backoff` and `timeoutMs` (shaped like the `runAction` options)
 * are the defaults of every action call of the workflow; a `runAction` option overrides its own
 * field. They are read and validated once, at decoration (compiler/defaults.ts). They are not
 * declared here, so a subclass needs no `override` to set them.
 */
export abstract class Workflow {
  // biome-ignore lint/suspicious/noExplicitAny: each workflow declares its own parameters, and a subclass's must fit this one whatever they are (never[] would refuse every run that takes an argument, unknown[] every typed one)
  abstract run(...args: any[]): Promise<unknown>;

  /** Queues an instance and returns its handle at once. */
  async start<W extends Workflow>(this: W, args: RunArgs<W> = [] as unknown as RunArgs<W>, options: StartOptions = {}): Promise<WorkflowHandle<RunResult<W>>> {
    const def = definitionOf(this.constructor);
    const client = await sharedClient();
    const { id } = await client.start(def, args as unknown[], options);
    return new WorkflowHandle<RunResult<W>>(id, def.name);
  }

  /** Runs one action call with options. Inside a workflow the supervisor applies them. */
  async runAction<T>(call: Promise<T>, options?: ActionCallOptions): Promise<T> {
    void options;
    return call;
  }

  /** The compiled graph, as Mermaid (default) or Graphviz dot. */
  static visualize(format: VisualizeFormat = "mermaid"): string {
    return visualize(definitionOf(this).compiled.ir, format);
  }

  /** Queues many instances, one round trip per thousand. Returns their ids. */
  static async startMany<W extends Workflow>(
    this: abstract new () => W,
    argsList: Array<RunArgs<W>>,
    options: { priority?: number; delayMs?: number } = {},
  ): Promise<string[]> {
    const def = definitionOf(this);
    return (await sharedClient()).startMany(def, argsList as unknown[][], options);
  }
}

export interface WorkflowOptions {
  /** A stable name (default: the class name). */
  name?: string;
}

type WorkflowClass = abstract new (...args: never[]) => Workflow;

/**
 * The compiler, loaded on first use and synchronously (a decorator compiles at once): an action
 * child, which never compiles, loads neither it nor swc.
 */
const load = createRequire(import.meta.url);
const compileWorkflow: typeof CompilerModule.compileWorkflow = (input) => (load("../compiler/workflow.js") as typeof CompilerModule).compileWorkflow(input);
const visualize: typeof VisualizeModule.visualize = (ir, format) => (load("../compiler/visualize.js") as typeof VisualizeModule).visualize(ir, format);

function define<C extends WorkflowClass>(cls: C, options: WorkflowOptions): C {
  if (typeof cls !== "function" || !(cls.prototype instanceof Workflow)) {
    throw new RegistrationError(`@workflow classes must extend Workflow (from "waymark"): ${(cls as { name?: string })?.name ?? String(cls)} does not`);
  }
  const name = options.name ?? cls.name;
  if (!name) throw new RegistrationError('a workflow class needs a name: give the class one, or pass @workflow({ name: "..." })');
  // The file is read from the call stack now: a deferred compilation would see another stack.
  const file = callerFile();
  const compile = () => compileWorkflow({ cls, workflowName: name, file, lookup: { has: (n) => actionRegistry().has(n) } });
  let compiled = compilesLazily() ? undefined : compile();
  const def: WorkflowDefinition = {
    name,
    original: cls,
    file,
    get compiled() {
      return (compiled ??= compile());
    },
  };
  workflowRegister(def);
  const original = cls as unknown as new (...args: unknown[]) => Workflow;
  const Queued = class extends original {
    /** Queues an instance and waits for its result (the body runs on the workers). */
    override async run(...args: unknown[]): Promise<unknown> {
      if (sdkConfig().skipWaitForInstance) {
        await this.start(args as never);
        return undefined;
      }
      return (await sharedClient()).run(def, args);
    }
  };
  Object.defineProperty(Queued, "name", { value: cls.name });
  Object.defineProperty(Queued, DEFINITION, { value: def });
  return Queued as unknown as C;
}

/**
 * Declares a workflow: `@workflow`, `@workflow({ name })`, or the call form
 * `workflow(class W extends Workflow { ... })`.
 */
export function workflow<C extends WorkflowClass>(cls: C, context?: ClassDecoratorContext): C;
export function workflow(options: WorkflowOptions): <C extends WorkflowClass>(cls: C, context?: ClassDecoratorContext) => C;
export function workflow<C extends WorkflowClass>(
  arg: C | WorkflowOptions,
  context?: ClassDecoratorContext,
): C | (<D extends WorkflowClass>(cls: D, context?: ClassDecoratorContext) => D) {
  void context;
  if (typeof arg === "function") return define(arg as C, {});
  return <D extends WorkflowClass>(cls: D) => define(cls, arg ?? {});
}

/** Runs a workflow's body in this process, with actions called as plain functions (tests). */
export function runInline<W extends Workflow>(cls: abstract new () => W, ...args: RunArgs<W>): Promise<RunResult<W>> {
  const def = definitionOf(cls);
  const instance = new (cls as unknown as new () => Workflow)();
  const body = (def.original as unknown as { prototype: { run: (...a: unknown[]) => Promise<unknown> } }).prototype.run;
  return body.apply(instance, args) as Promise<RunResult<W>>;
}
