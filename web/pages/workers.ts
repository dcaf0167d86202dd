import type { WorkerStatus } from "../../store/workers.js";
import { count, duration, html, layout, raw, time, type Html } from "../html.js";

/**
 * Workers: the cluster's last hour in charts (drawn in the browser by /assets/charts.js from
 * /api/samples), then each supervisor's published status row (waymark.worker_status) and its
 * children. Inside `waymark supervise` the serving supervisor's own counters are read live as well.
 */
interface Child {
  pid?: number;
  slot?: number;
  state?: string;
  inflight?: number;
  dispatched?: number;
  /** When it was spawned (epoch ms). */
  startedAt?: number;
}

/** A child's actions per second over its life, as of `at`. */
function childRate(c: Child, at: number): string {
  const started = num(c.startedAt);
  if (started === undefined) return "-";
  return ((c.dispatched ?? 0) / Math.max(1, (at - started) / 1000)).toFixed(1);
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Actions per second: the writer's recent rate when it publishes one, else the average since start. */
function throughput(w: WorkerStatus): { value: number; recent: boolean } {
  const recent = num(w.stats.actionsPerSecond);
  if (recent !== undefined) return { value: recent, recent: true };
  const secs = Math.max(1, (w.updatedAt.getTime() - w.startedAt.getTime()) / 1000);
  return { value: +((num(w.stats.actions) ?? 0) / secs).toFixed(1), recent: false };
}

function stat(label: string, v: unknown, key: string): Html {
  const n = num(v);
  return html`<div class="stat" data-stat="${key}"><span>${label}</span><b>${n === undefined ? "-" : count(n)}</b></div>`;
}

function card(w: WorkerStatus, p: { staleMs: number; local: boolean; now: number }): Html {
  const s = w.stats;
  const age = p.now - w.updatedAt.getTime();
  const stale = !p.local && age > p.staleMs;
  const tp = throughput(w);
  const children = Array.isArray(s.children) ? (s.children as Child[]) : [];
  return html`<section class="card worker${stale ? " stale" : ""}" data-owner="${w.owner}">
<h2>${w.hostname} <span class="muted">pid ${w.pid}</span> ${p.local ? html`<span class="badge status-running">this process</span>` : ""}${stale ? html`<span class="badge status-failed">stale</span>` : ""}</h2>
<p class="muted mono">${w.owner}</p>
<p>Started ${time(w.startedAt)} · ${p.local ? "live" : html`updated ${duration(age)} ago`}</p>
<div class="stats">
<div class="stat" data-stat="throughput"><span>actions/s${tp.recent ? "" : " (avg)"}</span><b>${tp.value}</b></div>
${stat("in flight", s.inflight, "inflight")}${stat("instances held", s.instances, "instances")}${stat("completed", s.completed, "completed")}${stat("failed", s.failed, "failed")}
${stat("actions", s.actions, "actions")}${stat("claimed", s.claimed, "claimed")}${stat("write batches", s.batches, "batches")}${stat("peak children", s.peakChildren, "peakChildren")}${stat("recycled", s.recycled, "recycled")}
${num(s.rssMb) !== undefined ? html`<div class="stat"><span>memory</span><b>${num(s.rssMb)} MB</b></div>` : ""}
</div>
${
  children.length
    ? html`<table class="list"><thead><tr><th>Child pid</th><th>Slot</th><th>State</th><th>In flight</th><th>Dispatched</th><th>Actions/s (avg)</th></tr></thead><tbody>${children.map(
        (c) =>
          html`<tr data-child="${c.pid ?? ""}"><td>${c.pid ?? "-"}</td><td>${c.slot ?? "-"}</td><td>${c.state ?? "-"}</td><td>${c.inflight ?? 0}</td><td>${c.dispatched ?? 0}</td><td data-rate>${childRate(c, p.local ? p.now : w.updatedAt.getTime())}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="muted">No children reported.</p>`
}
</section>`;
}

const CHARTS: Array<[string, string]> = [
  ["throughput", "Actions/s and failures/s"],
  ["step", "Step latency: an action's end to the next one's start"],
  ["duration", "Action duration"],
  ["lag", "Queue lag: how long due instances have waited"],
];

/** The charts' frame: the page script fills it, or shows the empty state while there are no samples. */
function charts(p: { any: boolean; refreshMs: number }): Html {
  return html`<section class="card charts" id="charts" data-samples="/api/samples" data-refresh-ms="${p.refreshMs}" data-state="${p.any ? "loading" : "empty"}">
<h2>Last hour <span class="muted small">all supervisors, a sample every 10 s, UTC</span></h2>
<p class="empty" data-charts-empty${p.any ? raw(" hidden") : ""}>No samples yet: a running supervisor writes one every 10 seconds.</p>
<div class="chart-grid" data-charts-grid${p.any ? "" : raw(" hidden")}>
${CHARTS.map(([name, title]) => html`<figure class="chart" data-chart="${name}"><figcaption>${title}</figcaption><div class="plot"></div></figure>`)}
<figure class="chart" data-chart="depth"><figcaption>Queue depth per workflow <select data-depth-status aria-label="status">${[
    "queued",
    "running",
    "sleeping",
  ].map(
    (s) => html`<option value="${s}">${s}</option>`,
  )}</select> <span class="muted small" data-depth-note></span></figcaption><div class="plot"></div></figure>
</div>
</section>`;
}

export function workersPage(p: { rows: WorkerStatus[]; local?: WorkerStatus; staleMs: number; samples: { any: boolean; refreshMs: number } }): string {
  const now = Date.now();
  const rows = p.rows.filter((r) => r.owner !== p.local?.owner);
  // The serving supervisor: its published row (start time, rate, memory) under its live counters.
  const mine = p.rows.find((r) => r.owner === p.local?.owner);
  const local = p.local && mine ? { ...p.local, startedAt: mine.startedAt, stats: { ...mine.stats, ...p.local.stats } } : p.local;
  const cards = [
    ...(local ? [card(local, { staleMs: p.staleMs, local: true, now })] : []),
    ...rows.map((r) => card(r, { staleMs: p.staleMs, local: false, now })),
  ];
  const body = cards.length ? cards : html`<p class="empty">No supervisor has published its status. Start one with <code>waymark supervise</code>.</p>`;
  return layout({
    title: "Workers",
    nav: "/workers",
    body: html`<h1>Workers</h1>${charts(p.samples)}${body}`,
    styles: ["/assets/uplot.css"],
    scripts: ["/assets/uplot.js", "/assets/charts.js"],
  });
}
