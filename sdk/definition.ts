/**
 * The workflows a process has decorated, by name, each with its definition (the class as
 * written, its module, its IR). The registry and the lazy-compile flag live on `globalThis` under
 * `Symbol.for` keys, so every copy of the waymark module loaded in one process shares them. Two
 * workflows of one name from different modules are refused at decoration.
 */
import type { CompiledWorkflow } from "../compiler/workflow.js";
import { RegistrationError } from "../core/errors.js";

/** A decorated workflow class: its name, the class as written, and its compiled IR. */
export interface WorkflowDefinition {
  name: string;
  /** The class as the user wrote it (its `run` is the workflow body). */
  original: abstract new (
    ...args: never[]
  ) => unknown;
  /** The module that declared it (from the call stack at decoration). */
  file: string | undefined;
  /** The IR: compiled at decoration, or on first use in a process that defers it (recycled workers). */
  readonly compiled: CompiledWorkflow;
}

const LAZY_KEY = Symbol.for("waymark.lazyCompile");

/**
 * Defers compilation to first use in this process. A recycled worker child sets it: it only
 * runs actions, and its user modules were already compiled (and checked) by the first child.
 */
export function compileLazily(on: boolean): void {
  (globalThis as { [LAZY_KEY]?: boolean })[LAZY_KEY] = on;
}

export function compilesLazily(): boolean {
  return (globalThis as { [LAZY_KEY]?: boolean })[LAZY_KEY] === true;
}

export const DEFINITION = Symbol.for("waymark.workflowDefinition");

const REGISTRY_KEY = Symbol.for("waymark.workflows");

/** The workflows this process has defined, by name (for the CLI and the children). */
export function workflowRegistry(): Map<string, WorkflowDefinition> {
  const g = globalThis as { [REGISTRY_KEY]?: Map<string, WorkflowDefinition> };
  return (g[REGISTRY_KEY] ??= new Map());
}

export function workflowRegister(def: WorkflowDefinition): void {
  const registry = workflowRegistry();
  const existing = registry.get(def.name);
  if (existing && existing.file !== def.file) {
    throw new RegistrationError(
      `two workflows are named "${def.name}": one in ${existing.file}, one in ${def.file}. Name one explicitly: @workflow({ name: "..." })`,
    );
  }
  registry.set(def.name, def);
}

export function definitionOf(cls: unknown): WorkflowDefinition {
  const def = (cls as { [DEFINITION]?: WorkflowDefinition } | undefined)?.[DEFINITION];
  if (!def)
    throw new RegistrationError(
      `${(cls as { name?: string })?.name ?? "this class"} is not a workflow: decorate it with @workflow (or wrap it: workflow(class ... extends Workflow {}))`,
    );
  return def;
}
