/**
 * Renders a compiled workflow as a graph: one node per step (instructions, with jumps as edges),
 * one subgraph per function. Action calls are drawn as action nodes named by their node id, so a
 * viewer can colour them by the state of their attempts.
 */
import type { Arg, Expr, FnIR, Instr, Pat, WorkflowIR } from "../core/ir.js";

export type VisualizeFormat = "mermaid" | "dot";

const MAX = 60;

function clip(s: string): string {
  return s.length > MAX ? s.slice(0, MAX - 1) + "…" : s;
}

function slot(n: string): string {
  return n.startsWith("#") ? `$${n.slice(1)}` : n;
}

function exprText(e: Expr | null, fns?: FnIR[]): string {
  if (!e) return "";
  const args = (list: Arg[]) => list.map((a) => ("spread" in a ? `...${exprText(a.spread, fns)}` : exprText(a, fns))).join(", ");
  switch (e.k) {
    case "lit":
      return typeof e.v === "object" && e.v !== null ? ((e.v as { $w?: string }).$w === "u" ? "undefined" : JSON.stringify(e.v)) : JSON.stringify(e.v);
    case "re":
      return `/${e.p}/${e.f}`;
    case "var":
      return slot(e.n);
    case "tpl":
      return "`" + e.q.map((q, i) => q + (i < e.e.length ? `\${${exprText(e.e[i]!, fns)}}` : "")).join("") + "`";
    case "arr":
      return `[${e.items.map((i) => (i === null ? "" : "spread" in i ? `...${exprText(i.spread, fns)}` : exprText(i, fns))).join(", ")}]`;
    case "obj":
      return `{${e.props.map((p) => ("spread" in p ? `...${exprText(p.spread, fns)}` : "ck" in p ? `[${exprText(p.ck, fns)}]: ${exprText(p.v, fns)}` : `${p.key}: ${exprText(p.v, fns)}`)).join(", ")}}`;
    case "get":
      return `${exprText(e.o, fns)}${e.opt ? "?." : ""}${typeof e.p === "string" ? `${e.opt ? "" : "."}${e.p}` : `[${exprText(e.p, fns)}]`}`;
    case "chain":
      return exprText(e.e, fns);
    case "call":
      return `${exprText(e.f, fns)}(${args(e.args)})`;
    case "bin":
    case "log":
      return `${exprText(e.l, fns)} ${e.op} ${exprText(e.r, fns)}`;
    case "un":
      return `${e.op}${/[a-z]/.test(e.op) ? " " : ""}${exprText(e.e, fns)}`;
    case "del":
      return `delete ${exprText(e.t, fns)}`;
    case "cond":
      return `${exprText(e.t, fns)} ? ${exprText(e.c, fns)} : ${exprText(e.a, fns)}`;
    case "assign":
      return `${patText(e.t, fns)} ${e.op} ${exprText(e.e, fns)}`;
    case "upd":
      return e.prefix ? `${e.op}${patText(e.t, fns)}` : `${patText(e.t, fns)}${e.op}`;
    case "seq":
      return e.es.map((x) => exprText(x, fns)).join(", ");
    case "fn":
      return fns?.[e.f]?.name ?? "(...) => ...";
    case "global":
      return e.path.startsWith("#") ? e.path.slice(1) : e.path;
    case "new":
      return `new ${e.c}(${args(e.args)})`;
    case "act":
      return `${e.name}(${args(e.args)})`;
    case "actref":
      return e.name;
    case "sleep":
      return `sleep(${exprText(e.ms, fns)})`;
    case "all":
      return `Promise.${e.settled ? "allSettled" : "all"}(${exprText(e.e, fns)})`;
    case "helper":
      return `this.${fns?.[e.f]?.name ?? "helper"}(${args(e.args)})`;
    case "wait":
      return `waitForEvent(${exprText(e.name, fns)}${e.opts ? `, ${exprText(e.opts, fns)}` : ""})`;
    case "publish":
      return `publish(${exprText(e.key, fns)}, ${exprText(e.v, fns)})`;
    case "send":
      return `sendEvent(${args(e.args)})`;
    case "child":
      return `${e.wf}.${e.detached ? "start" : "run"}(${args(e.args)})`;
    case "print":
      return `log.${e.level}(${args(e.args)})`;
  }
}

function patText(p: Pat | null, fns?: FnIR[]): string {
  if (!p) return "";
  switch (p.k) {
    case "id":
      return slot(p.n);
    case "mem":
      return `${exprText(p.o, fns)}${typeof p.p === "string" ? `.${p.p}` : `[${exprText(p.p, fns)}]`}`;
    case "arrp":
      return `[${[...p.items.map((i) => patText(i, fns)), ...(p.rest ? [`...${patText(p.rest, fns)}`] : [])].join(", ")}]`;
    case "objp":
      return `{${[...p.props.map((x) => (typeof x.key === "string" ? `${x.key}: ${patText(x.v, fns)}` : `[${exprText(x.key, fns)}]: ${patText(x.v, fns)}`)), ...(p.rest ? [`...${patText(p.rest, fns)}`] : [])].join(", ")}}`;
    case "def":
      return `${patText(p.p, fns)} = ${exprText(p.d, fns)}`;
  }
}

/** Action calls made by an expression (for node ids and shapes). */
function actions(e: unknown, out: Array<{ node: string; name: string }> = []): Array<{ node: string; name: string }> {
  if (!e || typeof e !== "object") return out;
  if (Array.isArray(e)) {
    for (const x of e) actions(x, out);
    return out;
  }
  const x = e as { k?: string; node?: string; name?: string };
  if (x.k === "act" && x.node && x.name) out.push({ node: x.node, name: x.name });
  for (const v of Object.values(e)) if (v && typeof v === "object") actions(v, out);
  return out;
}

/** The kind of node a step that reaches the world makes, if it makes one: the first such call in it. */
function worldKind(e: unknown): "event" | "child" | "publish" | "send" | undefined {
  if (!e || typeof e !== "object") return undefined;
  const x = e as { k?: string };
  if (x.k === "wait") return "event";
  if (x.k === "child") return "child";
  if (x.k === "publish") return "publish";
  if (x.k === "send") return "send";
  for (const v of Object.values(e)) {
    const k = v && typeof v === "object" ? worldKind(v) : undefined;
    if (k) return k;
  }
  return undefined;
}

export interface GraphNode {
  id: string;
  label: string;
  /** event: waits for a message; child: starts a child workflow; publish, send: values and messages out. */
  kind: "action" | "wait" | "branch" | "step" | "return" | "throw" | "try" | "loop" | "event" | "child" | "publish" | "send";
  /** Action node ids (as in the attempts table) this step starts. */
  actions: string[];
}

interface GraphEdge {
  from: string;
  to: string;
  label?: string;
}

export interface FnGraph {
  name: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

function instrNode(fi: number, pc: number, ins: Instr, fns: FnIR[]): GraphNode | undefined {
  const id = `f${fi}_${pc}`;
  const acts = actions(ins).map((a) => a.node);
  switch (ins.op) {
    case "jmp":
    case "enter":
    case "exit":
    case "renew":
      return undefined;
    case "expr":
      return { id, label: clip(exprText(ins.e, fns)), kind: acts.length ? "action" : (worldKind(ins.e) ?? "step"), actions: acts };
    case "bind":
      return {
        id,
        label: clip(`${patText(ins.p, fns)} = ${exprText(ins.e, fns)}`),
        kind: acts.length ? "action" : (worldKind(ins.e) ?? "step"),
        actions: acts,
      };
    case "await":
      return {
        id,
        label: clip(`${ins.p ? `${patText(ins.p, fns)} = ` : ""}await ${exprText(ins.e, fns)}`),
        kind: acts.length ? "action" : (worldKind(ins.e) ?? "wait"),
        actions: acts,
      };
    case "jf":
      return { id, label: clip(`if ${exprText(ins.e, fns)}`), kind: "branch", actions: acts };
    case "ret":
      return { id, label: clip(`return ${exprText(ins.e, fns)}`), kind: "return", actions: acts };
    case "throw":
      return { id, label: clip(`throw ${exprText(ins.e, fns)}`), kind: "throw", actions: acts };
    case "try":
      return { id, label: "try", kind: "try", actions: [] };
    case "untry":
      return { id, label: "end try", kind: "try", actions: [] };
    case "fin":
      return { id, label: "end finally", kind: "try", actions: [] };
    case "leave":
      return { id, label: "leave", kind: "step", actions: [] };
    case "iter":
      return { id, label: clip(`for of ${exprText(ins.e, fns)}`), kind: "loop", actions: acts };
    case "next":
      return { id, label: clip(`next ${patText(ins.p, fns)}`), kind: "loop", actions: [] };
  }
}

/** The control-flow graph of each function. */
export function workflowGraph(ir: WorkflowIR): FnGraph[] {
  return ir.fns.map((fn, fi) => {
    const nodes = new Map<number, GraphNode>();
    fn.code.forEach((ins, pc) => {
      const n = instrNode(fi, pc, ins, ir.fns);
      if (n) nodes.set(pc, n);
    });
    // Jumps are edges: follow jmp chains to the next real node.
    const target = (pc: number, seen = new Set<number>()): string | undefined => {
      if (seen.has(pc)) return undefined;
      seen.add(pc);
      const ins = fn.code[pc];
      if (!ins) return undefined;
      if (ins.op === "jmp") return target(ins.to, seen);
      if (ins.op === "enter" || ins.op === "exit" || ins.op === "renew") return target(pc + 1, seen);
      return nodes.get(pc)?.id;
    };
    const edges: GraphEdge[] = [];
    const add = (from: string, pc: number, label?: string) => {
      const to = target(pc);
      if (to) edges.push(label ? { from, to, label } : { from, to });
    };
    fn.code.forEach((ins, pc) => {
      const n = nodes.get(pc);
      if (!n) return;
      switch (ins.op) {
        case "ret":
        case "throw":
        case "fin":
          if (ins.op === "fin") add(n.id, pc + 1);
          return;
        case "jf":
          add(n.id, pc + 1, "yes");
          add(n.id, ins.to, "no");
          return;
        case "next":
          add(n.id, pc + 1, "item");
          add(n.id, ins.to, "done");
          return;
        case "try":
          add(n.id, pc + 1);
          if (ins.c !== null) add(n.id, ins.c, "catch");
          if (ins.f !== null) add(n.id, ins.f, "finally");
          return;
        case "leave":
          add(n.id, ins.to);
          return;
        default:
          add(n.id, pc + 1);
      }
    });
    return { name: fn.name, nodes: [...nodes.values()], edges };
  });
}

function mermaidLabel(s: string): string {
  return `"${s.replace(/"/g, "#quot;").replace(/[<>]/g, (c) => (c === "<" ? "#lt;" : "#gt;"))}"`;
}

function dotLabel(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const DOT_SHAPES: Partial<Record<GraphNode["kind"], string>> = {
  branch: "diamond",
  action: 'box, style="rounded,filled", fillcolor="#dbeafe"',
  return: "oval",
  event: 'hexagon, style=filled, fillcolor="#fef3c7"',
  child: 'component, style=filled, fillcolor="#dcfce7"',
  publish: 'cds, style=filled, fillcolor="#f3e8ff"',
  send: 'cds, style=filled, fillcolor="#f3e8ff"',
};

/** Mermaid's node shapes: an event wait is a hexagon, a child workflow a subroutine, a message out a flag. */
const MERMAID_SHAPES: Partial<Record<GraphNode["kind"], [string, string]>> = {
  branch: ["{", "}"],
  action: ["([", "])"],
  return: ["((", "))"],
  event: ["{{", "}}"],
  child: ["[[", "]]"],
  publish: [">", "]"],
  send: [">", "]"],
};

export function visualize(ir: WorkflowIR, format: VisualizeFormat = "mermaid"): string {
  const graphs = workflowGraph(ir);
  if (format === "dot") {
    const lines = [`digraph ${JSON.stringify(ir.name)} {`, '  node [shape=box, fontname="Helvetica"];'];
    graphs.forEach((g, i) => {
      lines.push(`  subgraph cluster_${i} {`, `    label=${dotLabel(g.name)};`);
      for (const n of g.nodes) {
        const shape = DOT_SHAPES[n.kind] ?? "box";
        lines.push(`    ${n.id} [label=${dotLabel(n.label)}, shape=${shape}];`);
      }
      for (const e of g.edges) lines.push(`    ${e.from} -> ${e.to}${e.label ? ` [label=${dotLabel(e.label)}]` : ""};`);
      lines.push("  }");
    });
    lines.push("}");
    return lines.join("\n") + "\n";
  }
  const lines = ["flowchart TD"];
  graphs.forEach((g, i) => {
    lines.push(`  subgraph fn${i}[${mermaidLabel(g.name)}]`);
    for (const n of g.nodes) {
      const label = mermaidLabel(n.label);
      const [open, close] = MERMAID_SHAPES[n.kind] ?? ["[", "]"];
      const shape = `${open}${label}${close}`;
      lines.push(`    ${n.id}${shape}`);
    }
    for (const e of g.edges) lines.push(`    ${e.from} -->${e.label ? `|${e.label}|` : ""} ${e.to}`);
    lines.push("  end");
  });
  return lines.join("\n") + "\n";
}
