/**
 * The Schedules page: each schedule's cadence, arguments, next and last run, and pause / resume /
 * delete as plain POST forms to /api/schedules/... that come back to this page (`next`).
 */
import type { ScheduleRow } from "../../store/schedules.js";
import { badge, href, html, layout, postButton, time } from "../html.js";
import { argsText } from "../values.js";

function cadenceText(s: ScheduleRow): string {
  if (s.kind === "interval") {
    const ms = s.intervalMs ?? 0;
    return ms % 3_600_000 === 0
      ? `every ${ms / 3_600_000} h`
      : ms % 60_000 === 0
        ? `every ${ms / 60_000} min`
        : ms % 1000 === 0
          ? `every ${ms / 1000} s`
          : `every ${ms} ms`;
  }
  return `${s.cron ?? ""}${s.timezone !== "UTC" ? ` (${s.timezone})` : ""}`;
}

function schedulePath(s: { workflowName: string; scheduleName: string }): string {
  return href("/api/schedules", s.workflowName, s.scheduleName);
}

export function schedulesPage(rows: ScheduleRow[], notice?: string): string {
  const body = rows.length
    ? html`<table class="list"><thead><tr><th>Workflow</th><th>Schedule</th><th>Cadence</th><th>Arguments</th><th>Status</th><th>Next run (UTC)</th><th>Last run (UTC)</th><th>Last instance</th><th></th></tr></thead><tbody>
${rows.map((s) => {
  const path = schedulePath(s);
  return html`<tr data-schedule="${s.workflowName}/${s.scheduleName}">
<td><a href="${href("/instances", { workflow: s.workflowName })}">${s.workflowName}</a></td>
<td>${s.scheduleName}</td>
<td class="mono">${cadenceText(s)}${s.jitterMs ? html` <span class="muted">± ${s.jitterMs} ms</span>` : ""}</td>
<td><code>${argsText(s.args, 200)}</code></td>
<td>${badge(s.status)}</td>
<td>${s.status === "active" ? time(s.nextRunAt) : html`<span class="muted">paused</span>`}</td>
<td>${time(s.lastRunAt)}</td>
<td>${s.lastInstanceId ? html`<a class="mono" href="${href("/instances", s.lastInstanceId)}">${s.lastInstanceId.slice(0, 8)}…</a>` : "-"}</td>
<td class="actions">${
    s.status === "active"
      ? postButton({ action: `${path}/pause`, label: "Pause", next: "/schedules", name: "pause" })
      : postButton({ action: `${path}/resume`, label: "Resume", next: "/schedules", kind: "primary", name: "resume" })
  }${postButton({ action: `${path}/delete`, label: "Delete", next: "/schedules", kind: "danger", name: "delete", confirm: `Delete schedule ${s.scheduleName} of ${s.workflowName}?` })}</td>
</tr>`;
})}</tbody></table>`
    : html`<p class="empty">No schedules. Create one with <code>scheduleWorkflow(MyWorkflow, { scheduleName, schedule })</code>.</p>`;
  return layout({ title: "Schedules", nav: "/schedules", body: html`<h1>Schedules</h1>${notice ? html`<div class="notice">${notice}</div>` : ""}${body}` });
}
