/** The stylesheet, served as /assets/app.css (kept in a module: nothing to copy at build time). */
export const STYLE = `
:root { --fg: #1f2933; --muted: #6b7785; --line: #e3e8ee; --bg: #f7f9fb; --card: #fff; --accent: #2563eb;
  --ok: #15803d; --ok-bg: #dcfce7; --bad: #b91c1c; --bad-bg: #fee2e2; --run: #1d4ed8; --run-bg: #dbeafe;
  --wait: #a16207; --wait-bg: #fef3c7; --idle: #64748b; --idle-bg: #f1f5f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #111827; }
header.top .brand { color: #fff; font-weight: 700; font-size: 16px; letter-spacing: .3px; }
header.top nav a { color: #cbd5e1; margin-right: 16px; } header.top nav a.active { color: #fff; font-weight: 600; }
main { padding: 16px 24px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 8px 0 14px; display: flex; align-items: center; gap: 10px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
.muted { color: var(--muted); font-weight: normal; } .small { font-size: 12px; }
.mono, code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre.value { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px; margin: 0; white-space: pre-wrap; word-break: break-word; max-height: 420px; overflow: auto; }
pre.value.small { min-width: 160px; padding: 4px 6px; max-height: 200px; border: 0; background: transparent; }
table.list td .error.small { max-width: 520px; } table.list td details summary code { white-space: nowrap; }
pre.stack { font-size: 11.5px; color: #444; white-space: pre-wrap; }
table.list { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
table.list th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; padding: 8px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
table.list td { padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
table.list tr:last-child td { border-bottom: 0; } table.list tr.pending td { background: #f8fbff; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: var(--idle-bg); color: var(--idle); }
.status-completed, .status-active { background: var(--ok-bg); color: var(--ok); }
.status-failed, .status-timed_out { background: var(--bad-bg); color: var(--bad); }
.status-running { background: var(--run-bg); color: var(--run); }
.status-sleeping, .status-retrying, .status-paused, .status-queued { background: var(--wait-bg); color: var(--wait); }
.status-cancelled { background: var(--idle-bg); color: var(--idle); }
.level-info { background: var(--run-bg); color: var(--run); } .level-warn { background: var(--wait-bg); color: var(--wait); }
.level-error { background: var(--bad-bg); color: var(--bad); } table.logs td:nth-child(2) { white-space: nowrap; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 12px; }
.chip { padding: 4px 12px; border-radius: 14px; border: 1px solid var(--line); background: var(--card); color: var(--fg); }
.chip.active { outline: 2px solid var(--accent); } .chip b { margin-left: 4px; }
form.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin-bottom: 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
input, select { font: inherit; padding: 4px 6px; border: 1px solid #cbd2d9; border-radius: 4px; background: #fff; }
.btn { display: inline-block; font: inherit; padding: 4px 12px; border: 1px solid #cbd2d9; border-radius: 4px; background: #fff; color: var(--fg); cursor: pointer; }
.btn.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn.danger { color: var(--bad); border-color: #f3b4b4; }
form.inline { display: inline; margin-right: 6px; }
.pager { margin-top: 12px; display: flex; gap: 8px; }
.notice { padding: 8px 12px; border-radius: 6px; background: var(--run-bg); margin: 8px 0; } .notice.warn { background: var(--wait-bg); }
.empty { color: var(--muted); padding: 24px; text-align: center; background: var(--card); border: 1px dashed var(--line); border-radius: 6px; }
.title-row { display: flex; justify-content: space-between; align-items: center; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 8px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.crumbs { margin: 0; color: var(--muted); }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; } @media (max-width: 900px) { .cols { grid-template-columns: 1fr; } }
.error { border: 1px solid #f3b4b4; background: #fff7f7; border-radius: 6px; padding: 8px 10px; } .error.small { padding: 2px 6px; font-size: 12.5px; }
.error-head { color: var(--bad); margin-bottom: 4px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; }
.card h2 { margin-top: 0; } .card.stale { opacity: .65; }
.stats { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.stat { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 110px; }
.stat span { display: block; font-size: 11.5px; color: var(--muted); } .stat b { font-size: 18px; }
.graph-box { margin: 0 0 12px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px; overflow: auto; }
.graph-box figcaption { font-weight: 600; color: var(--muted); margin: 0 0 4px 4px; }
svg.graph { display: block; max-width: 100%; height: auto; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
svg.graph .edge { fill: none; stroke: #9aa5b1; stroke-width: 1.4; } svg.graph .edge.back { stroke-dasharray: 4 3; }
svg.graph .arrow { fill: #9aa5b1; }
svg.graph .edge-label { font-size: 10.5px; fill: var(--muted); }
svg.graph .node rect { fill: #fff; stroke: #cbd2d9; stroke-width: 1.2; }
svg.graph .node .label { font-size: 12px; fill: var(--fg); } svg.graph .node .count { font-size: 11px; fill: var(--muted); }
svg.graph .kind-branch rect, svg.graph .kind-loop rect { fill: #f8fafc; }
svg.graph .kind-return rect { fill: #f1f5f9; }
svg.graph .kind-action rect { stroke-width: 1.6; }
svg.graph .kind-event rect { fill: #fef3c7; stroke: #d97706; stroke-dasharray: 4 2; }
svg.graph .kind-child rect { fill: #dcfce7; stroke: #16a34a; stroke-width: 1.6; }
svg.graph .kind-publish rect, svg.graph .kind-send rect { fill: #f3e8ff; stroke: #9333ea; }
ul.waits { margin: 0 0 1rem; padding-left: 1.2rem; }
svg.graph [data-state="pending"] rect { fill: var(--idle-bg); stroke: #94a3b8; }
svg.graph [data-state="completed"] rect { fill: var(--ok-bg); stroke: var(--ok); }
svg.graph [data-state="failed"] rect, svg.graph [data-state="cancelled"] rect { fill: var(--bad-bg); stroke: var(--bad); }
svg.graph [data-state="running"] rect { fill: var(--run-bg); stroke: var(--run); animation: pulse 1.2s ease-in-out infinite; }
svg.graph [data-state="retrying"] rect { fill: var(--wait-bg); stroke: var(--wait); }
@keyframes pulse { 50% { stroke-width: 3; } }
.legend { color: var(--muted); font-size: 12px; } .dot { display: inline-block; width: 10px; height: 10px; border-radius: 3px; margin: 0 4px 0 10px; border: 1px solid; }
.dot.pending { background: var(--idle-bg); border-color: #94a3b8; } .dot.running { background: var(--run-bg); border-color: var(--run); }
.dot.retrying { background: var(--wait-bg); border-color: var(--wait); } .dot.completed { background: var(--ok-bg); border-color: var(--ok); }
.dot.failed { background: var(--bad-bg); border-color: var(--bad); }
.live { font-size: 11px; color: var(--run); border: 1px solid var(--run); border-radius: 8px; padding: 0 6px; margin-left: 6px; }
.live.off { color: var(--muted); border-color: var(--muted); }
[hidden] { display: none !important; }
.chart-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px 20px; }
figure.chart { margin: 0; min-width: 0; } figure.chart figcaption { font-weight: 600; color: var(--muted); margin: 0 0 4px; }
figure.chart select { font-size: 12px; padding: 1px 4px; margin-left: 6px; }
figure.chart .plot { min-height: 200px; } .charts .u-legend { font-size: 12px; }
`;
