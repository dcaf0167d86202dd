import type { WorkflowIR } from "../core/ir.js";
import { Machine } from "../interpreter/machine.js";
import { snapshotRead } from "../interpreter/snapshot.js";
import { decode, type Encoded } from "../core/codec.js";
import type { AttemptRow } from "../store/attempts.js";
import type { InstanceStatus } from "../store/instances.js";

/**
 * Where an instance is: the state of each action node of its graph, from the attempts recorded
 * (rows are written when an attempt finishes) and the calls still pending in its snapshot.
 */
export interface PendingCall {
  seq: number;
  name: string;
  node: string;
  /** The attempt in flight (or the next one, for a call about to be dispatched or backing off). */
  attempt: number;
  status: "running" | "retrying";
  args: Encoded[];
  retryAt: Date | null;
}

type NodeState = "completed" | "failed" | "running" | "retrying" | "cancelled";

export interface NodeProgress {
  state: NodeState;
  /** Calls made at this node (a loop or a Promise.all makes several). */
  calls: number;
  completed: number;
  failed: number;
  active: number;
}

const ACTIVE: readonly InstanceStatus[] = ["queued", "running", "sleeping"];

/**
 * The calls in flight or waiting. A running instance without a snapshot is on its first calls,
 * which depend on its arguments alone: run the machine to them (pure steps, no side effects).
 */
export function pendingCalls(p: { ir: WorkflowIR; status: InstanceStatus; state: string | null; args: Encoded }): PendingCall[] {
  if (!ACTIVE.includes(p.status)) return [];
  let machine: Machine;
  if (p.state) machine = snapshotRead(p.ir, p.state);
  else if (p.status === "running") {
    machine = Machine.start(p.ir, decode(p.args) as unknown[], Date.now());
    machine.run(Date.now());
    machine.takeDispatches();
  } else return [];
  const out: PendingCall[] = [];
  for (const h of machine.actions.values()) {
    const c = h.call;
    if (!c || h.state !== "pending") continue;
    out.push({
      seq: c.seq,
      name: c.name,
      node: c.node,
      attempt: c.status === "running" ? c.attempt : c.attempt + 1,
      status: c.status === "waiting" ? "retrying" : "running",
      args: c.args,
      retryAt: c.retryAt ? new Date(c.retryAt) : null,
    });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** What a waiting instance waits on in the world: messages (by mailbox, with deadlines) and children. */
export interface WorldWaits {
  events: Array<{ name: string; node: string; deadline: Date | null }>;
  children: Array<{ instanceId: string; workflow: string; node: string }>;
}

/** The waits for events and children in an instance's snapshot, oldest first. */
export function worldWaits(p: { ir: WorkflowIR; status: InstanceStatus; state: string | null }): WorldWaits {
  const out: WorldWaits = { events: [], children: [] };
  if (!ACTIVE.includes(p.status) || !p.state) return out;
  const machine = snapshotRead(p.ir, p.state);
  for (const h of machine.waits) out.events.push({ name: h.event!.name, node: h.event!.node, deadline: h.wakeAt === undefined ? null : new Date(h.wakeAt) });
  for (const h of machine.children.values()) {
    const e = h.effect;
    out.children.push({ instanceId: h.childId!, workflow: e?.kind === "start" ? e.workflow : "", node: e?.node ?? "" });
  }
  return out;
}

/** Drops pending calls whose attempt already has a recorded outcome (written after the snapshot). */
export function stillPending(pending: PendingCall[], attempts: AttemptRow[]): PendingCall[] {
  const done = new Set(attempts.filter((a) => a.status !== "running").map((a) => `${a.actionSeq}:${a.attempt}`));
  const completed = new Set(attempts.filter((a) => a.status === "completed").map((a) => a.actionSeq));
  return pending.filter((c) => !done.has(`${c.seq}:${c.attempt}`) && !completed.has(c.seq));
}

const RANK: Record<NodeState, number> = { running: 5, retrying: 4, failed: 3, cancelled: 2, completed: 1 };

/** Each action node's state: its busiest call's (running, then retrying, failed, cancelled, completed). */
export function nodeProgress(p: { attempts: AttemptRow[]; pending: PendingCall[] }): Record<string, NodeProgress> {
  const calls = new Map<number, { node: string; state: NodeState }>();
  for (const a of p.attempts) {
    const prev = calls.get(a.actionSeq);
    // Attempts come in (seq, attempt) order: the last one decides.
    const state: NodeState = a.status === "completed" ? "completed" : a.status === "cancelled" ? "cancelled" : a.status === "running" ? "running" : "failed";
    if (prev?.state !== "completed") calls.set(a.actionSeq, { node: a.nodeId, state });
  }
  for (const c of p.pending) calls.set(c.seq, { node: c.node, state: c.status });
  const out: Record<string, NodeProgress> = {};
  for (const { node, state } of calls.values()) {
    const n = (out[node] ??= { state, calls: 0, completed: 0, failed: 0, active: 0 });
    n.calls++;
    if (state === "completed") n.completed++;
    else if (state === "failed" || state === "cancelled") n.failed++;
    else n.active++;
    if (RANK[state] > RANK[n.state]) n.state = state;
  }
  return out;
}

/** The small text beside a node: "2/5" for a node with several calls, else nothing. */
export function progressLabel(n: NodeProgress | undefined): string {
  if (!n || n.calls < 2) return "";
  return `${n.completed}/${n.calls}`;
}
