import test from "ava";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { workflowGraph } from "../../compiler/visualize.js";
import { definitionOf } from "../../sdk/definition.js";
import type { CorpusCase } from "../corpus/case.js";

/** Every corpus workflow renders, in both formats, with edges only between drawn nodes. */
const corpusDir = fileURLToPath(new URL("../corpus/", import.meta.url));
const modules = readdirSync(corpusDir).filter((f) => f.endsWith(".ts") && !["actions.ts", "case.ts"].includes(f));
const workflows = new Set<CorpusCase["workflow"]>();
for (const f of modules) for (const c of ((await import(`../corpus/${f.replace(/\.ts$/, ".js")}`)) as { cases: CorpusCase[] }).cases) workflows.add(c.workflow);

test("every corpus workflow renders as Mermaid and dot", (t) => {
  t.true(workflows.size >= 60);
  for (const w of workflows) {
    const cls = w as unknown as { visualize(format?: "mermaid" | "dot"): string; name: string };
    const mermaid = cls.visualize();
    t.true(mermaid.startsWith("flowchart TD\n"), cls.name);
    t.true(cls.visualize("dot").startsWith("digraph"), cls.name);
    for (const g of workflowGraph(definitionOf(w).compiled.ir)) {
      const ids = new Set(g.nodes.map((n) => n.id));
      for (const e of g.edges) t.true(ids.has(e.from) && ids.has(e.to), `${cls.name} ${g.name}: ${e.from} -> ${e.to}`);
    }
  }
});

test("waits for events, child workflows, publications and sends are their own node kinds, in both formats", async (t) => {
  const E = await import("../fixtures/workflows/events.js");
  const kinds = (w: unknown) => workflowGraph(definitionOf(w).compiled.ir).flatMap((g) => g.nodes.map((n) => [n.kind, n.label] as const));
  t.deepEqual(
    kinds(E.OrderApproval).filter(([k]) => k === "event" || k === "publish"),
    [
      ["publish", 'await publish("stage", "waiting for approval")'],
      ["event", 'decision = await waitForEvent("approval", {timeoutMs: timeo…'],
      ["publish", 'await publish("stage", "escalated")'],
      ["publish", 'await publish("stage", "decided")'],
    ],
  );
  t.true(kinds(E.Messenger).some(([k, l]) => k === "send" && l.startsWith("await sendEvent(to")));
  t.true(kinds(E.CatchChild).some(([k, l]) => k === "child" && l.includes("ChargeOrder.run(id)")));
  t.true(
    kinds(E.Fulfil).some(([k, l]) => k === "child" && l.includes("warehouse.notify.start([")),
    "named by the child's registered name",
  );
  const mermaid = E.OrderApproval.visualize();
  t.regex(mermaid, /\{\{.*waitForEvent\(.*approval.*\}\}/);
  t.regex(mermaid, />.*publish\(.*\]/);
  t.regex(E.CatchChild.visualize(), /\[\[.*ChargeOrder\.run\(id\).*\]\]/);
  t.regex(E.OrderApproval.visualize("dot"), /shape=hexagon/);
  t.regex(E.Fulfil.visualize("dot"), /shape=component/);
});
