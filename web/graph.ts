/**
 * The workflow graph as SVG, laid out here (no client library): nodes in layers by their
 * longest path from the entry (loops' back edges ignored for that), each layer in program
 * order; forward edges as curves downwards, back edges as arcs on the right. Every action node
 * carries `data-node` (its id in the attempts table) and `data-state`, which the live view
 * updates in place.
 */
import type { WorkflowIR } from "../core/ir.js";
import type { FnGraph, GraphNode } from "../compiler/visualize.js";
import { html, type Html } from "./html.js";
import { progressLabel, type NodeProgress } from "./progress.js";

const W = 270;
const H = 34;
const GAP_X = 28;
const GAP_Y = 30;
const PAD = 16;
const LABEL = 34;

interface Placed {
  node: GraphNode;
  x: number;
  y: number;
}

export interface Layout {
  width: number;
  height: number;
  nodes: Placed[];
  edges: Array<{ from: Placed; to: Placed; label?: string; back: boolean }>;
}

export function layout(g: FnGraph): Layout {
  const index = new Map(g.nodes.map((n, i) => [n.id, i]));
  const out = g.nodes.map(() => [] as Array<{ to: number; label?: string }>);
  for (const e of g.edges) {
    const a = index.get(e.from);
    const b = index.get(e.to);
    if (a !== undefined && b !== undefined) out[a]!.push({ to: b, label: e.label });
  }
  // Back edges: those that reach a node on the DFS stack (iterative: long workflows are deep).
  const back = new Set<string>();
  const seen = new Uint8Array(g.nodes.length); // 0 new, 1 on stack, 2 done
  for (let root = 0; root < g.nodes.length; root++) {
    if (seen[root]) continue;
    const stack: Array<[number, number]> = [[root, 0]];
    seen[root] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [n, i] = top;
      if (i >= out[n]!.length) {
        seen[n] = 2;
        stack.pop();
        continue;
      }
      top[1]++;
      const to = out[n]![i]!.to;
      if (seen[to] === 1) back.add(`${n}>${to}`);
      else if (seen[to] === 0) {
        seen[to] = 1;
        stack.push([to, 0]);
      }
    }
  }
  // Layers: longest path over forward edges, in topological order (Kahn).
  const indeg = new Array<number>(g.nodes.length).fill(0);
  for (const [a, list] of out.entries()) for (const e of list) if (!back.has(`${a}>${e.to}`)) indeg[e.to]!++;
  const rank = new Array<number>(g.nodes.length).fill(0);
  const queue = g.nodes.map((_, i) => i).filter((i) => indeg[i] === 0);
  while (queue.length) {
    const a = queue.shift()!;
    for (const e of out[a]!) {
      if (back.has(`${a}>${e.to}`)) continue;
      rank[e.to] = Math.max(rank[e.to]!, rank[a]! + 1);
      if (--indeg[e.to]! === 0) queue.push(e.to);
    }
  }
  const layers: number[][] = [];
  for (let i = 0; i < g.nodes.length; i++) (layers[rank[i]!] ??= []).push(i);
  const widest = Math.max(1, ...layers.map((l) => l?.length ?? 0));
  const inner = widest * W + (widest - 1) * GAP_X;
  const placed: Placed[] = new Array(g.nodes.length);
  layers.forEach((layer, r) => {
    if (!layer) return;
    const span = layer.length * W + (layer.length - 1) * GAP_X;
    layer.forEach((i, k) => {
      placed[i] = { node: g.nodes[i]!, x: PAD + (inner - span) / 2 + k * (W + GAP_X), y: PAD + r * (H + GAP_Y) };
    });
  });
  const edges: Layout["edges"] = [];
  for (const [a, list] of out.entries())
    for (const e of list) edges.push({ from: placed[a]!, to: placed[e.to]!, label: e.label, back: back.has(`${a}>${e.to}`) });
  const backCount = edges.filter((e) => e.back).length;
  return {
    width: PAD * 2 + inner + (backCount ? 24 + backCount * 8 : 0),
    height: PAD * 2 + layers.length * H + Math.max(0, layers.length - 1) * GAP_Y,
    nodes: placed.filter(Boolean),
    edges,
  };
}

function clip(s: string): string {
  return s.length > LABEL ? s.slice(0, LABEL - 1) + "…" : s;
}

function edgePath(e: Layout["edges"][number], lane: number, right: number): string {
  const { from: a, to: b } = e;
  if (e.back) {
    const x = right + 12 + lane * 8;
    return `M${a.x + W} ${a.y + H / 2} C${x} ${a.y + H / 2} ${x} ${a.y + H / 2} ${x} ${a.y} L${x} ${b.y + H} C${x} ${b.y + H / 2} ${x} ${b.y + H / 2} ${b.x + W} ${b.y + H / 2}`;
  }
  const x1 = a.x + W / 2;
  const y1 = a.y + H;
  const x2 = b.x + W / 2;
  const y2 = b.y;
  const my = (y1 + y2) / 2;
  return `M${x1} ${y1} C${x1} ${my} ${x2} ${my} ${x2} ${y2 - 2}`;
}

/** One function's graph; `progress` colours the action nodes. */
export function graphSvg(g: FnGraph, p: { progress: Record<string, NodeProgress>; id: string }): Html {
  const l = layout(g);
  const right = Math.max(0, ...l.nodes.map((n) => n.x + W));
  let lane = 0;
  const edges = l.edges.map((e) => {
    const d = edgePath(e, e.back ? lane++ : 0, right);
    const label = e.label
      ? e.back
        ? html`<text class="edge-label" x="${right + 14}" y="${e.from.y + H / 2 - 4}">${e.label}</text>`
        : html`<text class="edge-label" x="${(e.from.x + e.to.x + W) / 2 + 4}" y="${(e.from.y + H + e.to.y) / 2 + 4}">${e.label}</text>`
      : "";
    return html`<path class="edge${e.back ? " back" : ""}" d="${d}" marker-end="url(#${p.id}-arrow)"></path>${label}`;
  });
  const nodes = l.nodes.map(({ node, x, y }) => {
    const action = node.actions[0];
    const prog = action ? mergeProgress(node.actions.map((a) => p.progress[a])) : undefined;
    const shape =
      node.kind === "branch" || node.kind === "loop"
        ? html`<rect x="${x}" y="${y}" width="${W}" height="${H}" rx="17"></rect>`
        : html`<rect x="${x}" y="${y}" width="${W}" height="${H}" rx="${node.kind === "action" ? 8 : 3}"></rect>`;
    return html`<g class="node kind-${node.kind}" data-gnode="${node.id}"${action ? html` data-node="${node.actions.join(" ")}" data-state="${prog?.state ?? "pending"}"` : ""}>
<title>${node.label}</title>${shape}<text class="label" x="${x + 12}" y="${y + H / 2 + 4}">${clip(node.label)}</text>${
      action ? html`<text class="count" x="${x + W - 10}" y="${y + H / 2 + 4}" text-anchor="end">${progressLabel(prog)}</text>` : ""
    }</g>`;
  });
  return html`<svg class="graph" id="${p.id}" viewBox="0 0 ${l.width} ${l.height}" width="${l.width}" height="${l.height}" role="img" aria-label="${g.name}">
<defs><marker id="${p.id}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" class="arrow"></path></marker></defs>
${edges}
${nodes}
</svg>`;
}

/** Indexes of the functions (arrow callbacks) an instruction creates, e.g. the map's in `Promise.all(xs.map((x) => act(x)))`. */
function closures(value: unknown, out: Set<number>): Set<number> {
  if (!value || typeof value !== "object") return out;
  if (Array.isArray(value)) {
    for (const v of value) closures(v, out);
    return out;
  }
  const e = value as { k?: string; f?: unknown };
  if (e.k === "fn" && typeof e.f === "number") out.add(e.f);
  for (const v of Object.values(value)) if (v && typeof v === "object") closures(v, out);
  return out;
}

/**
 * A step that awaits calls made inside a callback (`await Promise.all(items.map((i) => act(i)))`)
 * takes those calls' action ids too, so it shows their progress ("2/3") where the workflow
 * waits for them.
 */
export function withNestedActions(ir: WorkflowIR, graphs: FnGraph[]): FnGraph[] {
  const own = graphs.map((g) => g.nodes.flatMap((n) => n.actions));
  const reach = (fi: number, seen: Set<number>): string[] => {
    if (seen.has(fi) || !ir.fns[fi]) return [];
    seen.add(fi);
    const nested = [...closures(ir.fns[fi]!.code, new Set())].flatMap((f) => reach(f, seen));
    return [...(own[fi] ?? []), ...nested];
  };
  return graphs.map((g, fi) => ({
    ...g,
    nodes: g.nodes.map((n) => {
      const pc = Number(/_(\d+)$/.exec(n.id)?.[1]);
      const fns = [...closures(ir.fns[fi]?.code[pc], new Set())];
      if (n.actions.length || !fns.length) return n;
      const actions = [...new Set(fns.flatMap((f) => reach(f, new Set([fi]))))];
      return actions.length ? { ...n, actions } : n;
    }),
  }));
}

/** Each action step's state and count label, by graph node id (what the live view sends). */
export function graphStates(graphs: FnGraph[], progress: Record<string, NodeProgress>): Record<string, { state: string; count: string }> {
  const out: Record<string, { state: string; count: string }> = {};
  for (const g of graphs) {
    for (const n of g.nodes) {
      if (!n.actions.length) continue;
      const prog = mergeProgress(n.actions.map((a) => progress[a]));
      out[n.id] = { state: prog?.state ?? "pending", count: progressLabel(prog) };
    }
  }
  return out;
}

/** A step that starts several actions (rare): the busiest one's state, the counts summed. */
function mergeProgress(list: Array<NodeProgress | undefined>): NodeProgress | undefined {
  const present = list.filter((x): x is NodeProgress => !!x);
  if (present.length <= 1) return present[0];
  const order = ["completed", "cancelled", "failed", "retrying", "running"];
  return present.reduce((a, b) => ({
    state: order.indexOf(b.state) > order.indexOf(a.state) ? b.state : a.state,
    calls: a.calls + b.calls,
    completed: a.completed + b.completed,
    failed: a.failed + b.failed,
    active: a.active + b.active,
  }));
}
