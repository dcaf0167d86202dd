import test from "ava";
import { actionContext as contextFromPackage, action } from "waymark";
import { actionInvoke, actionRegistry } from "../../sdk/action.js";

/**
 * The action context is one per process, like the action registry: an action run by one copy of
 * the waymark module (here the source, as the child's copy would) sees its context through
 * another copy (the package, as the user's module imports it).
 */
export const whoAmI = action("context.whoAmI", async function whoAmI() {
  const { instanceId, actionId, attempt } = contextFromPackage();
  return { instanceId, actionId, attempt };
});

test("actionContext() works when another copy of the module invoked the action", async (t) => {
  const entry = actionRegistry().get("context.whoAmI")!;
  const out = await actionInvoke(entry, [], {
    instanceId: "i-1",
    actionId: "7",
    attempt: 2,
    signal: new AbortController().signal,
    progress: () => undefined,
    lastProgress: undefined,
  });
  t.deepEqual(out, { instanceId: "i-1", actionId: "7", attempt: 2 });
});
