import test from "ava";
import type { FnGraph } from "../../compiler/visualize.js";
import { encode } from "../../core/codec.js";
import { graphSvg, layout } from "../../web/graph.js";
import { escapeHtml, href, html, raw } from "../../web/html.js";
import { nodeProgress } from "../../web/progress.js";
import { errorView, text } from "../../web/values.js";

test("html`` escapes every interpolated value, in text and attributes", (t) => {
  const evil = `<script>alert("x")</script>' onload='y`;
  t.is(
    html`<p title="${evil}">${evil}</p>`.text,
    `<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;y">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;y</p>`,
  );
  t.is(html`<i>${[evil, raw("<b>ok</b>"), null, undefined, false, 0]}</i>`.text, `<i>${escapeHtml(evil)}<b>ok</b>0</i>`);
  t.is(href("/instances", "a b/c", { status: "failed", q: undefined }), "/instances/a%20b%2Fc?status=failed");
});

test("values read as JavaScript shows them", (t) => {
  const v = encode({ when: new Date(Date.UTC(2024, 0, 2)), n: 10n, m: new Map([["k", 1]]), s: new Set([1]), u: undefined, nan: NaN });
  t.is(text(v), `{\n  when: Date(2024-01-02T00:00:00.000Z),\n  n: 10n,\n  m: Map(1) { "k" => 1 },\n  s: Set(1) { 1 },\n  u: undefined,\n  nan: NaN\n}`);
  t.is(text(encode([1, "two", { three: 3 }])), `[1, "two", { three: 3 }]`);
  t.is(text("x".repeat(50), 10), `"xxxxxxxxx… (42 more characters)`);
  const err = new TypeError("bad <thing>");
  (err as TypeError & { code?: string }).code = "E1";
  const view = errorView(encode(err));
  t.is(view?.name, "TypeError");
  t.is(view?.message, "bad <thing>");
  t.is(view?.fields, `{ code: "E1" }`);
  t.is(errorView({ name: "ActionTimeout", message: "too slow" })?.name, "ActionTimeout");
});

const G: FnGraph = {
  name: "run",
  nodes: [
    { id: "f0_0", label: "a = await one()", kind: "action", actions: ["n1"] },
    { id: "f0_1", label: "if a", kind: "branch", actions: [] },
    { id: "f0_2", label: "await two()", kind: "action", actions: ["n2"] },
    { id: "f0_3", label: "await three()", kind: "action", actions: ["n3"] },
    { id: "f0_4", label: "return <a>", kind: "return", actions: [] },
  ],
  edges: [
    { from: "f0_0", to: "f0_1" },
    { from: "f0_1", to: "f0_2", label: "yes" },
    { from: "f0_1", to: "f0_3", label: "no" },
    { from: "f0_2", to: "f0_4" },
    { from: "f0_3", to: "f0_4" },
    { from: "f0_4", to: "f0_0" },
  ],
};

test("the layout puts branches side by side and sends loops back on the right", (t) => {
  const l = layout(G);
  const y = Object.fromEntries(l.nodes.map((n) => [n.node.id, n.y]));
  const x = Object.fromEntries(l.nodes.map((n) => [n.node.id, n.x]));
  t.true(y.f0_0! < y.f0_1! && y.f0_1! < y.f0_2! && y.f0_2! < y.f0_4!);
  t.is(y.f0_2, y.f0_3);
  t.not(x.f0_2, x.f0_3);
  t.deepEqual(
    l.edges.filter((e) => e.back).map((e) => `${e.from.node.id}>${e.to.node.id}`),
    ["f0_4>f0_0"],
  );
});

test("node states come from the attempts and the pending calls", (t) => {
  const at = (seq: number, attempt: number, node: string, status: string) => ({
    actionSeq: seq,
    attempt,
    nodeId: node,
    actionName: "x",
    status,
    args: null,
    result: null,
    error: null,
    childPid: 1,
    startedAt: new Date(),
    finishedAt: new Date(),
    progress: null,
  });
  const progress = nodeProgress({
    attempts: [at(1, 1, "n1", "failed"), at(1, 2, "n1", "completed"), at(2, 1, "n2", "completed"), at(3, 1, "n2", "failed")],
    pending: [{ seq: 4, name: "x", node: "n3", attempt: 1, status: "running", args: [], retryAt: null }],
  });
  t.is(progress.n1!.state, "completed");
  t.is(progress.n2!.state, "failed");
  t.is(progress.n2!.calls, 2);
  t.is(progress.n3!.state, "running");
  const svg = graphSvg(G, { progress, id: "g0" }).text;
  t.regex(svg, /data-gnode="f0_0" data-node="n1" data-state="completed"/);
  t.regex(svg, /data-gnode="f0_3" data-node="n3" data-state="running"/);
  t.regex(svg, /return &lt;a&gt;/);
  t.regex(svg, />1\/2</);
});
