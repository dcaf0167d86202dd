import { STATUSES } from "../../store/instances.js";
import { COUNT_CAP, type InstanceList, type ListQuery } from "../data.js";
import { badge, between, count, href, html, layout, time } from "../html.js";

/** The instances page: counts per status, filters, id search, and keyset pages. */
export function instancesPage(q: ListQuery, list: InstanceList): string {
  const g = q.given;
  const link = (over: Record<string, string | undefined>) => href("/instances", { ...g, ...over });
  const total = STATUSES.reduce((n, s) => n + list.counts[s], 0);
  const anyCapped = STATUSES.some((s) => list.counts[s] >= COUNT_CAP);
  const shown = (s: (typeof STATUSES)[number]) => {
    const n = list.counts[s];
    if (n < COUNT_CAP) return count(n);
    const est = list.estimates[s];
    return est && est > n ? `≈${count(est)}` : `${count(n)}+`;
  };
  const chips = html`<nav class="chips" aria-label="Instances per status">
<a class="chip${g.status ? "" : " active"}" href="${link({ status: undefined })}" data-count="all">all <b>${anyCapped ? `${count(total)}+` : count(total)}</b></a>
${STATUSES.map(
  (s) => html`<a class="chip status-${s}${g.status === s ? " active" : ""}" href="${link({ status: s })}" data-count="${s}">${s} <b>${shown(s)}</b></a>`,
)}
</nav>`;
  const form = html`<form class="filters" method="get" action="/instances">
<label>Workflow <select name="workflow"><option value="">any</option>${list.workflows.map(
    (w) => html`<option value="${w}"${g.workflow === w ? html` selected` : ""}>${w}</option>`,
  )}${g.workflow && !list.workflows.includes(g.workflow) ? html`<option value="${g.workflow}" selected>${g.workflow}</option>` : ""}</select></label>
<label>Status <select name="status"><option value="">any</option>${STATUSES.map((s) => html`<option value="${s}"${g.status === s ? html` selected` : ""}>${s}</option>`)}</select></label>
<label>Created from <input type="datetime-local" name="from" step="1" value="${g.from ?? ""}"></label>
<label>to <input type="datetime-local" name="to" step="1" value="${g.to ?? ""}"> <span class="muted">UTC</span></label>
<label>Id <input type="search" name="q" placeholder="id or its start" value="${g.q ?? ""}" size="20"></label>
<button class="btn primary" type="submit">Filter</button> <a class="btn" href="/instances">Clear</a>
</form>`;
  const problems = q.problems.length ? html`<div class="notice warn">${q.problems.map((p) => html`<div>Ignored: ${p}</div>`)}</div>` : "";
  const rows = list.rows.map(
    (r) => html`<tr data-instance="${r.id}">
<td class="mono"><a href="${href("/instances", r.id)}">${r.id}</a></td>
<td><a href="${link({ workflow: r.workflowName, q: undefined })}">${r.workflowName}</a></td>
<td>${badge(r.status)}</td>
<td>${time(r.createdAt)}</td>
<td>${r.finishedAt ? between(r.startedAt ?? r.createdAt, r.finishedAt) : r.startedAt ? "running" : "-"}</td>
</tr>`,
  );
  const table = list.rows.length
    ? html`<table class="list"><thead><tr><th>Instance</th><th>Workflow</th><th>Status</th><th>Created (UTC)</th><th>Took</th></tr></thead><tbody>${rows}</tbody></table>`
    : html`<p class="empty">No instances${Object.keys(g).length ? " match these filters" : " yet"}.</p>`;
  const pager = html`<nav class="pager">
${list.newer ? html`<a class="btn" href="${link({})}" data-page="newest">« Newest</a> <a class="btn" href="${link({ after: list.newer })}" data-page="newer">‹ Newer</a>` : ""}
${list.older ? html`<a class="btn" href="${link({ before: list.older })}" data-page="older">Older ›</a>` : ""}
</nav>`;
  return layout({
    title: "Instances",
    nav: "/instances",
    body: html`<h1>Instances</h1>${chips}${form}${problems}${table}${pager}`,
  });
}
