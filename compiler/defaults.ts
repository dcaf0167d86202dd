/**
 * Workflow-wide action defaults, as the original allowed: instance properties of the workflow
 * class,
 *
 *     class Orders extends Workflow {
 *       retry = new RetryPolicy({ attempts: 3 });
 *       backoff = new BackoffPolicy({ baseDelayMs: 1_000, multiplier: 2 });
 *       timeoutMs = 60_000;
 *       async run() { ... }
 *     }
 *
 * apply to every action call of the workflow unless a `runAction` option overrides them. They
 * are read once, at decoration, by instantiating the class (so inherited fields and imported
 * constants work), validated, and stored in the IR (so they are part of the version's hash, and
 * every supervisor that runs the version applies the same ones).
 */
import { RegistrationError } from "../core/errors.js";
import { actionDefaults, DEFAULT_FIELDS, type ActionDefaults } from "../core/policy.js";

/**
 * Reads a workflow class's defaults by constructing it once, and validates them (core/policy.ts).
 * Returns undefined when it sets none; an invalid one is a RegistrationError naming the field and
 * where the class sets it.
 */
export function workflowDefaults(
  cls: abstract new (...args: never[]) => unknown,
  workflowName: string,
  where: (field: string) => string | undefined,
): ActionDefaults | undefined {
  let instance: Record<string, unknown>;
  try {
    instance = new (cls as unknown as new () => Record<string, unknown>)();
  } catch (e) {
    throw new RegistrationError(
      `workflow ${workflowName}: constructing ${cls.name} (to read its action defaults: ${DEFAULT_FIELDS.join(", ")}) threw ${(e as Error)?.name ?? "an error"}: ${(e as Error)?.message ?? String(e)}`,
    );
  }
  const raw: Record<string, unknown> = {};
  for (const field of DEFAULT_FIELDS) if (instance[field] !== undefined) raw[field] = instance[field];
  if (!Object.keys(raw).length) return undefined;
  try {
    const defaults = actionDefaults(raw);
    return Object.keys(defaults).length ? defaults : undefined;
  } catch (e) {
    const message = (e as Error).message;
    const field = message.slice(0, message.indexOf(":"));
    const at = where(field);
    throw new RegistrationError(
      `workflow ${workflowName}: its \`${field}\` property (the default for every action call) is invalid: ${message.slice(field.length + 2)}${at ? ` (at ${at})` : ""}`,
    );
  }
}
