/**
 * The instance page: its arguments, status, result or error, its workflow's graph with each
 * action node's state, what it waits for (messages, children), its mailboxes, published values
 * and children, every attempt, and its workflow's log. While it runs, the page subscribes to
 * /api/instances/:id/events and swaps in the fragments below (rendered and escaped here).
 */
import { decode, type Encoded, encode } from "../../core/codec.js";
import type { ActionProgress } from "../../sdk/action.js";
import { FINISHED, type InstanceView } from "../data.js";
import { graphStates, graphSvg } from "../graph.js";
import { badge, between, href, html, layout, postButton, time, type Html } from "../html.js";
import { argsText, errorView, text } from "../values.js";

function summary(v: InstanceView): Html {
  const i = v.instance;
  const path = href("/instances", i.id);
  const buttons = [
    !FINISHED.includes(i.status)
      ? postButton({
          action: `/api${path}/cancel`,
          label: i.cancelRequested ? "Cancelling…" : "Cancel",
          next: path,
          confirm: "Cancel this instance?",
          kind: "danger",
          name: "cancel",
        })
      : "",
    i.status === "failed" || i.status === "cancelled" ? postButton({ action: `/api${path}/requeue`, label: "Requeue", kind: "primary", name: "requeue" }) : "",
  ];
  return html`<div class="title-row"><h1>${i.workflowName} ${badge(i.status)}</h1><div class="actions">${buttons}</div></div>
<dl class="facts">
<dt>Instance</dt><dd class="mono">${i.id}</dd>
<dt>Version</dt><dd><a href="${href("/versions", i.versionId)}">#${i.versionId}</a></dd>
<dt>Created</dt><dd>${time(i.createdAt)}</dd>
<dt>Started</dt><dd>${time(i.startedAt)}</dd>
<dt>Finished</dt><dd>${time(i.finishedAt)}</dd>
<dt>Took</dt><dd>${i.finishedAt ? between(i.startedAt ?? i.createdAt, i.finishedAt) : "-"}</dd>
${i.status === "sleeping" || i.status === "queued" ? html`<dt>${i.status === "sleeping" ? "Wakes" : "Runs from"}</dt><dd>${i.scheduledAt ? time(i.scheduledAt) : "when a message or a child's end arrives"}</dd>` : ""}
${i.priority ? html`<dt>Priority</dt><dd>${i.priority}</dd>` : ""}
${i.parentId ? html`<dt>Parent</dt><dd><a class="mono" href="/instances/${i.parentId}">${i.parentId}</a>${i.detached ? " (detached)" : ""}</dd>` : ""}
${i.scheduleId !== null ? html`<dt>Schedule</dt><dd><a href="/schedules">#${i.scheduleId}</a></dd>` : ""}
${i.idempotencyKey ? html`<dt>Idempotency key</dt><dd class="mono">${i.idempotencyKey}</dd>` : ""}
${i.status === "running" && i.leaseOwner ? html`<dt>Supervisor</dt><dd class="mono">${i.leaseOwner}</dd>` : ""}
${i.leaseLosses ? html`<dt>Supervisor deaths</dt><dd title="times in a row its supervisor died while running it; at WAYMARK_CRASH_LOOP_LIMIT it fails">${i.leaseLosses} in a row</dd>` : ""}
</dl>`;
}

function errorBlock(e: ReturnType<typeof errorView>, small = false): Html {
  if (!e) return html``;
  return html`<div class="error${small ? " small" : ""}"><div class="error-head"><b>${e.name}</b>: ${e.message}</div>${e.fields ? html`<pre class="value">${e.fields}</pre>` : ""}${
    e.stack ? html`<details><summary>stack</summary><pre class="stack">${e.stack}</pre></details>` : ""
  }</div>`;
}

function outcome(v: InstanceView): Html {
  const i = v.instance;
  if (i.status === "completed") return html`<h2>Result</h2><pre class="value" data-value="result">${text(i.result)}</pre>`;
  if (i.error) return html`<h2>Error</h2>${errorBlock(errorView(i.error))}`;
  return html`<h2>Result</h2><p class="muted">${i.status === "running" ? "Running…" : i.status === "sleeping" ? "Sleeping…" : "Not started yet."}</p>`;
}

function valueCell(value: string): Html {
  if (value.length <= 120) return html`<pre class="value small">${value}</pre>`;
  return html`<details><summary><code>${value.slice(0, 80)}…</code></summary><pre class="value small">${value}</pre></details>`;
}

/** An attempt's latest progress: a bar for its percent, its message, and its data. */
function progressCell(encoded: Encoded | null): Html | string {
  if (encoded === null) return "";
  let p: ActionProgress;
  try {
    p = decode(encoded) as ActionProgress;
  } catch {
    return "";
  }
  const percent = typeof p.percent === "number" ? p.percent : undefined;
  return html`<div class="progress">${percent !== undefined ? html`<progress max="100" value="${percent}"></progress> ${Math.round(percent)}%` : ""}
${typeof p.message === "string" ? html` <span>${p.message}</span>` : ""}${p.data !== undefined ? valueCell(text(encode(p.data), 2000)) : ""}</div>`;
}

function attempts(v: InstanceView): Html {
  const done = v.attempts.map((a) => {
    const err = errorView(a.error);
    return html`<tr data-attempt="${a.actionSeq}:${a.attempt}" data-node="${a.nodeId}" data-status="${a.status}">
<td>${a.actionSeq}</td><td>${a.actionName}</td><td>${a.attempt}</td><td>${badge(a.status)}</td>
<td>${valueCell(argsText(a.args, 5000))}</td>
<td>${a.status === "completed" ? valueCell(text(a.result, 5000)) : a.status === "running" ? "" : errorBlock(err, true)}${progressCell(a.progress)}</td>
<td>${time(a.startedAt)}</td><td>${between(a.startedAt, a.finishedAt)}</td><td>${a.childPid ?? "-"}</td>
</tr>`;
  });
  const pending = v.pending.map(
    (c) => html`<tr data-attempt="${c.seq}:${c.attempt}" data-node="${c.node}" data-status="${c.status}" class="pending">
<td>${c.seq}</td><td>${c.name}</td><td>${c.attempt}</td><td>${badge(c.status)}</td>
<td>${valueCell(argsText(c.args, 5000))}</td>
<td class="muted">${c.status === "retrying" && c.retryAt ? html`next attempt at ${time(c.retryAt)}` : "in flight"}</td>
<td>-</td><td>-</td><td>-</td>
</tr>`,
  );
  const note = v.pendingProblem ? html`<p class="notice warn">The calls in flight cannot be shown: ${v.pendingProblem}</p>` : "";
  if (!done.length && !pending.length) return html`<h2>Action attempts</h2>${note}<p class="empty">No action has run yet.</p>`;
  return html`<h2>Action attempts <span class="muted">(${v.attempts.length} recorded${v.pending.length ? `, ${v.pending.length} pending` : ""})</span></h2>${note}
<table class="list attempts"><thead><tr><th>#</th><th>Action</th><th>Attempt</th><th>Status</th><th>Arguments</th><th>Result or error</th><th>Started (UTC)</th><th>Took</th><th>Child pid</th></tr></thead>
<tbody>${done}${pending}</tbody></table>`;
}

/** A log record's time, to the millisecond (records of one step often share the second). */
function logTime(d: Date): Html {
  const iso = d.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 23).replace("T", " ")}Z</time>`;
}

/** The workflow's log (`console.log` in `run()`): its records in the order they were made, a timeline beside the attempts. */
function logs(v: InstanceView): Html {
  if (!v.logs.length)
    return html`<h2>Log</h2><p class="empty">The workflow has logged nothing (<code>console.log(...)</code> in <code>run()</code> writes here).</p>`;
  const first = v.logs[0]!.seq;
  return html`<h2>Log <span class="muted">(${v.logs.length} record${v.logs.length === 1 ? "" : "s"}${first > 1 ? `; the ${first - 1} before them are no longer kept` : ""})</span></h2>
<table class="list logs"><thead><tr><th>#</th><th>Time (UTC)</th><th>Level</th><th>Line</th><th>Message</th></tr></thead>
<tbody>${v.logs.map(
    (r) => html`<tr data-log="${r.seq}" data-level="${r.level}" data-node="${r.nodeId}">
<td>${r.seq}</td><td>${logTime(r.at)}</td><td><span class="badge level-${r.level}">${r.level}</span></td><td title="${r.nodeId}">${r.line}</td><td>${valueCell(r.message)}</td>
</tr>`,
  )}</tbody></table>`;
}

/** What it waits for in the world, the messages no wait has taken, what it published, its children. */
function world(v: InstanceView): Html {
  const parts: Html[] = [];
  const waits = [
    ...v.waits.events.map(
      (w) =>
        html`<li data-wait="event" data-node="${w.node}">a message <b>${w.name}</b>${w.deadline ? html`, until ${time(w.deadline)}` : html` <span class="muted">(no deadline)</span>`}</li>`,
    ),
    ...v.waits.children.map(
      (c) =>
        html`<li data-wait="child" data-node="${c.node}">child workflow ${c.workflow} <a class="mono" href="/instances/${c.instanceId}">${c.instanceId}</a></li>`,
    ),
  ];
  for (const w of v.limitWaits) {
    waits.push(
      html`<li data-wait="limit" data-token="${w.token}">waiting for the ${w.blockedBy} limit of <b>${w.action}</b>${w.key ? html`, key <b>${w.key}</b>` : ""}, since ${time(w.since)}</li>`,
    );
  }
  if (waits.length) parts.push(html`<h2>Waiting for</h2><ul class="waits">${waits}</ul>`);
  if (v.messages.length) {
    parts.push(
      html`<h2>Messages not yet taken <span class="muted">(${v.messages.length})</span></h2><table class="table"><thead><tr><th>#</th><th>Event</th><th>Payload</th><th>Sent</th></tr></thead><tbody>${v.messages.map(
        (m) =>
          html`<tr data-message="${m.position}"><td>${m.position}</td><td>${m.childId ? html`end of child <span class="mono">${m.childId}</span>` : m.name}</td><td>${valueCell(text(m.payload))}</td><td>${time(m.createdAt)}</td></tr>`,
      )}</tbody></table>`,
    );
  }
  if (v.published.length) {
    parts.push(
      html`<h2>Published values</h2><table class="table"><thead><tr><th>Key</th><th>Value</th><th>Updated</th></tr></thead><tbody>${v.published.map(
        (p) => html`<tr data-published="${p.key}"><td>${p.key}</td><td>${valueCell(text(p.value))}</td><td>${time(p.updatedAt)}</td></tr>`,
      )}</tbody></table>`,
    );
  }
  if (v.children.length) {
    parts.push(
      html`<h2>Children <span class="muted">(${v.children.length})</span></h2><table class="table"><thead><tr><th>Instance</th><th>Workflow</th><th>Status</th><th></th></tr></thead><tbody>${v.children.map(
        (c) =>
          html`<tr data-child="${c.instanceId}"><td><a class="mono" href="/instances/${c.instanceId}">${c.instanceId}</a></td><td>${c.workflow}</td><td>${badge(c.status)}</td><td class="muted">${c.detached ? "detached" : "waited for"}</td></tr>`,
      )}</tbody></table>`,
    );
  }
  return html`${parts}`;
}

function graphs(v: InstanceView): Html {
  if (!v.graphs.length) return html`<p class="muted">The workflow's graph is not available.</p>`;
  return html`${v.graphs.map(
    (g, i) =>
      html`<figure class="graph-box">${v.graphs.length > 1 ? html`<figcaption>${g.name}</figcaption>` : ""}${graphSvg(g, { progress: v.progress, id: `g${i}` })}</figure>`,
  )}<p class="legend"><span class="dot pending"></span>not run <span class="dot running"></span>running <span class="dot retrying"></span>retrying <span class="dot completed"></span>completed <span class="dot failed"></span>failed</p>`;
}

/** What the live view sends: the status, each action node's state, and the fragments. */
export function instanceUpdate(v: InstanceView): { payload: unknown; finished: boolean } {
  const finished = FINISHED.includes(v.instance.status);
  return {
    finished,
    payload: {
      status: v.instance.status,
      finished,
      nodes: graphStates(v.graphs, v.progress),
      fragments: { summary: summary(v).text, outcome: outcome(v).text, world: world(v).text, attempts: attempts(v).text, logs: logs(v).text },
    },
  };
}

export function instancePage(v: InstanceView): string {
  const i = v.instance;
  const live = FINISHED.includes(i.status) ? undefined : `/api/instances/${encodeURIComponent(i.id)}/events`;
  return layout({
    title: `${i.workflowName} ${i.id}`,
    nav: "/instances",
    live,
    body: html`<p class="crumbs"><a href="/instances">Instances</a> / <a href="${href("/instances", { workflow: i.workflowName })}">${i.workflowName}</a></p>
<section id="summary">${summary(v)}</section>
<section class="cols"><div><h2>Arguments</h2><pre class="value" data-value="args">${argsText(i.args)}</pre></div><div id="outcome">${outcome(v)}</div></section>
<section><h2>Graph ${live ? html`<span class="live" title="updates as actions complete">live</span>` : ""}</h2><div id="graph">${graphs(v)}</div></section>
<section id="world">${world(v)}</section>
<section id="attempts">${attempts(v)}</section>
<section id="logs">${logs(v)}</section>`,
  });
}
