/**
 * The Workflows pages: each workflow with its versions (one per compiled body; the first listed
 * is marked latest), and one version's facts and graph. A version's graph shows no progress: it
 * is the workflow's shape, drawn from the stored IR.
 */
import { visualize, type FnGraph } from "../../compiler/visualize.js";
import type { VersionRow } from "../../store/versions.js";
import { graphSvg } from "../graph.js";
import { href, html, layout } from "../html.js";

/** Workflows and their versions (one per compiled body), and each version's graph. */
export function versionsPage(rows: Array<Omit<VersionRow, "ir">>): string {
  const byName = new Map<string, Array<Omit<VersionRow, "ir">>>();
  for (const r of rows) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  const body = byName.size
    ? [...byName].map(
        ([name, versions]) => html`<section class="card" data-workflow="${name}">
<h2>${name} <a class="small" href="${href("/instances", { workflow: name })}">instances</a></h2>
<table class="list"><thead><tr><th>Version</th><th>IR hash</th><th>Source</th><th>First registered (UTC)</th><th>Last registered (UTC)</th></tr></thead><tbody>
${versions.map(
  (
    v,
    i,
  ) => html`<tr data-version="${v.id}"><td><a href="${href("/versions", v.id)}">#${v.id}</a>${i === 0 ? html` <span class="badge status-completed">latest</span>` : ""}</td>
<td class="mono">${v.hash.slice(0, 12)}</td><td class="mono">${v.sourceFile ?? "-"}</td><td>${v.createdAt.toISOString().slice(0, 19).replace("T", " ")}</td><td>${v.registeredAt.toISOString().slice(0, 19).replace("T", " ")}</td></tr>`,
)}</tbody></table>
</section>`,
      )
    : html`<p class="empty">No workflow version is registered yet: they are registered when a workflow first runs or a supervisor loads its module.</p>`;
  return layout({ title: "Workflows", nav: "/versions", body: html`<h1>Workflows</h1>${body}` });
}

export function versionPage(p: { row: VersionRow; graphs: FnGraph[] }): string {
  const { row } = p;
  let mermaid = "";
  try {
    mermaid = visualize(row.ir, "mermaid");
  } catch {
    mermaid = "(the graph cannot be drawn for this version)";
  }
  return layout({
    title: `${row.name} #${row.id}`,
    nav: "/versions",
    body: html`<p class="crumbs"><a href="/versions">Workflows</a> / ${row.name}</p>
<h1>${row.name} <span class="muted">version #${row.id}</span></h1>
<dl class="facts"><dt>IR hash</dt><dd class="mono">${row.hash}</dd><dt>Source</dt><dd class="mono">${row.sourceFile ?? "-"}</dd>
<dt>First registered</dt><dd>${row.createdAt.toISOString()}</dd><dt>Instances</dt><dd><a href="${href("/instances", { workflow: row.name })}">list</a></dd></dl>
<section id="graph">${p.graphs.map(
      (g, i) => html`<figure class="graph-box"><figcaption>${g.name}</figcaption>${graphSvg(g, { progress: {}, id: `g${i}` })}</figure>`,
    )}</section>
<details><summary>Mermaid</summary><pre class="value">${mermaid}</pre></details>`,
  });
}
