import type pg from "pg";
import type { Task } from "../child/protocol.js";
import type { ActionLimits } from "../core/flow.js";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { slotsExchange, type SlotRequest } from "../store/slots.js";

export interface LimiterOptions {
  db: pg.Pool;
  owner: string;
  /** How long a slot outlives its holder's last refresh: the lease TTL. */
  ttlMs: number;
  /** How often held slots are refreshed: the lease heartbeat. */
  heartbeatMs: number;
  log: Logger;
  /** Sends a granted call to the child pool. */
  dispatch(task: Task): void;
}

interface Group {
  action: string;
  key: string;
  limits: ActionLimits;
  /** Waiting calls, in the order they became ready. */
  waiting: Task[];
  /** The rate window blocks it until then (a NOTIFY or the fallback poll may look earlier). */
  blockedUntil: number;
  /** How many of this supervisor's calls lead the cluster's queue (since the last exchange, less those handed slots). */
  head: number;
  /** This supervisor's waiting calls on record in the cluster's queue (asked at an exchange). */
  asked: Set<string>;
}

/** How often waiting calls ask again when no NOTIFY says a slot freed (another supervisor died). */
const FALLBACK_MS = 1000;

/**
 * Flow control of one supervisor: calls of limited actions wait here, holding no child slot,
 * until the shared limits (store/slots.ts) grant them, and their slots go back when they end.
 * Every change goes out in one statement per pass, whatever the number of calls and groups: the
 * releases of ended attempts, the refresh of the slots held (so a dead supervisor's come back
 * within the TTL), and the asks of every group with waiting calls, oldest first per key. The
 * calls of all supervisors form one queue per (action, key): an exchange that frees a slot gives
 * it to the head of that queue, and when the head is another supervisor's call, that supervisor
 * is told (NOTIFY `grant <owner> <tokens>`) and starts it without asking. A pass runs when a call
 * waits or ends, when a rate window frees, and every heartbeat while anything is held or waiting.
 * Actions without limits never come here.
 */
export class Limiter {
  private limits = new Map<string, ActionLimits>();
  private readonly groups = new Map<string, Group>();
  /** The group each waiting call waits in, by token. */
  private readonly waitingIn = new Map<string, Group>();
  /** Tokens granted and still running (their slots are released when they end). */
  private readonly held = new Map<string, Group>();
  private releases: string[] = [];
  /** Slots passed in memory, recorded at the next exchange. */
  private handoffs: Array<{ from: string; to: string; instanceId: string; action: string; key: string }> = [];
  /** When the last exchange sent every waiting call (not only those new to the queue). */
  private lastFull = 0;
  /** Calls granted by another supervisor's exchange and started: their waits go at the next exchange. */
  private taken: string[] = [];
  private readonly loop: Loop;

  constructor(private readonly options: LimiterOptions) {
    this.loop = new Loop({
      pass: () => this.pass(),
      intervalMs: Math.min(options.heartbeatMs, FALLBACK_MS),
      backoffMs: 100,
      maxBackoffMs: 2000,
      onError: (e, retryInMs) => options.log.warn("flow control: the exchange with the limits failed; retrying", { error: (e as Error).message, retryInMs }),
    });
  }

  /** The limits of the actions the user modules registered (from the children). */
  setLimits(limits: Record<string, ActionLimits>): void {
    this.limits = new Map(Object.entries(limits));
    if (this.limits.size && !this.loop.active) this.loop.start();
  }

  /** Whether calls of this action wait here. */
  limited(action: string): boolean {
    return this.limits.has(action);
  }

  /** A call of a limited action, ready to run: it waits for its limit. */
  submit(task: Task, key: string | undefined): void {
    const limits = this.limits.get(task.action)!;
    const k = key ?? "";
    const id = `${task.action}\u0000${k}`;
    let g = this.groups.get(id);
    if (!g) this.groups.set(id, (g = { action: task.action, key: k, limits, waiting: [], blockedUntil: 0, head: 0, asked: new Set() }));
    g.waiting.push(task);
    this.waitingIn.set(task.id, g);
    this.loop.wake();
  }

  /** An attempt ended (or was dropped before it ran): its slot goes back, or it stops waiting. */
  release(token: string): void {
    const g = this.held.get(token);
    if (g) {
      this.held.delete(token);
      // The next call of the same group takes the slot at once (the count does not change), if
      // it leads the cluster's queue: on record, ahead of every other supervisor's call.
      if (g.waiting.length && g.head > 0 && g.asked.has(g.waiting[0]!.id)) {
        g.head--;
        const next = g.waiting.shift()!;
        g.asked.delete(next.id);
        this.waitingIn.delete(next.id);
        this.held.set(next.id, g);
        // A slot passed again before the first pass was recorded: one move, from its recorded holder.
        const pending = this.handoffs.find((h) => h.to === token);
        if (pending) {
          pending.to = next.id;
          pending.instanceId = next.instanceId;
          // The call in between never had its handoff recorded: its wait (and any slot an
          // exchange granted it meanwhile) goes.
          this.releases.push(token);
        } else this.handoffs.push({ from: token, to: next.id, instanceId: next.instanceId, action: g.action, key: g.key });
        this.loop.wake();
        this.options.dispatch(next);
        return;
      }
      this.releases.push(token);
      this.loop.wake();
      return;
    }
    const w = this.waitingIn.get(token);
    if (w) {
      this.waitingIn.delete(token);
      w.asked.delete(token);
      w.waiting.splice(
        w.waiting.findIndex((t) => t.id === token),
        1,
      );
      // Its wait may be on record: the release clears it.
      this.releases.push(token);
      this.loop.wake();
    }
  }

  /**
   * Another supervisor's exchange granted these waiting calls (NOTIFY `grant`): they start now.
   * Without tokens (too many for a notification), the waiting calls ask.
   */
  granted(tokens: string[]): void {
    if (!tokens.length) return this.wake();
    for (const token of tokens) {
      const g = this.waitingIn.get(token);
      if (!g) {
        // Gone meanwhile (cancelled, or granted by this supervisor's own exchange): if it does
        // not hold the slot, the slot goes back.
        if (!this.held.has(token)) this.releases.push(token);
        continue;
      }
      const i = g.waiting.findIndex((t) => t.id === token);
      const [task] = g.waiting.splice(i, 1);
      this.waitingIn.delete(token);
      g.asked.delete(token);
      if (g.limits.concurrency !== undefined) this.held.set(token, g);
      this.taken.push(token);
      this.options.dispatch(task!);
    }
    this.loop.wake();
  }

  /** Waiting calls ask again now. */
  wake(): void {
    for (const g of this.groups.values()) g.blockedUntil = 0;
    if (this.loop.active) this.loop.wake();
  }

  /** Per limited action, this supervisor's attempts holding slots and calls waiting. */
  stats(): Record<string, { running: number; waiting: number }> {
    const out: Record<string, { running: number; waiting: number }> = {};
    for (const name of this.limits.keys()) out[name] = { running: 0, waiting: 0 };
    for (const g of this.held.values()) out[g.action]!.running++;
    for (const g of this.groups.values()) out[g.action]!.waiting += g.waiting.length;
    return out;
  }

  /** The tokens of the calls waiting here (at shutdown: they never reached a child). */
  waitingTokens(): string[] {
    return [...this.groups.values()].flatMap((g) => g.waiting.map((t) => t.id));
  }

  waiting(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.waiting.length;
    return n;
  }

  private async pass(): Promise<number | undefined> {
    // After the current microtasks: the calls of one write share the exchange.
    await new Promise((resolve) => process.nextTick(resolve));
    const now = Date.now();
    const asking = [...this.groups.values()].filter((g) => g.waiting.length && g.blockedUntil <= now);
    const release = this.releases.splice(0);
    const handoffs = this.handoffs.splice(0);
    const taken = this.taken.splice(0);
    if (!asking.length && !release.length && !handoffs.length && !taken.length && !this.held.size && !this.waiting()) return undefined;
    // The calls new to the cluster's queue; now and then all of them (a stall past the TTL may
    // have let their waits expire).
    const full = now - this.lastFull >= this.options.heartbeatMs;
    if (full) this.lastFull = now;
    const requests: SlotRequest[] = asking.map((g) => ({
      action: g.action,
      key: g.key,
      waiting: g.waiting.filter((t) => full || !g.asked.has(t.id)).map((t) => ({ token: t.id, instanceId: t.instanceId })),
    }));
    const asked = requests.map((r) => r.waiting.map((t) => t.token));
    let grants: Awaited<ReturnType<typeof slotsExchange>>;
    try {
      grants = await slotsExchange(this.options.db, {
        owner: this.options.owner,
        ttlMs: this.options.ttlMs,
        release,
        taken,
        limits: Object.fromEntries(this.limits),
        requests,
        handoffs,
      });
    } catch (e) {
      this.releases.unshift(...release);
      this.handoffs.unshift(...handoffs);
      this.taken.unshift(...taken);
      throw e;
    }
    // The calls asked for are on record in the cluster's queue now.
    asking.forEach((g, i) => {
      for (const id of asked[i]!) if (this.waitingIn.get(id) === g) g.asked.add(id);
    });
    let next: number | undefined;
    for (const grant of grants) {
      const g = this.groups.get(`${grant.action}\u0000${grant.key}`);
      if (!g) {
        // No call of this group waits here any more: what was granted goes back.
        for (const token of grant.granted) if (!this.held.has(token)) this.releases.push(token);
        continue;
      }
      const ok = new Set(grant.granted);
      const go = g.waiting.filter((t) => ok.has(t.id));
      g.waiting = g.waiting.filter((t) => !ok.has(t.id));
      // A call released while the exchange ran was granted a slot it will not use: give it back.
      // (One handed a slot meanwhile keeps the granted one; the exchange frees the handed one.)
      for (const token of ok) if (!go.some((t) => t.id === token) && !this.held.has(token)) this.releases.push(token);
      g.head = grant.head;
      for (const t of go) {
        this.waitingIn.delete(t.id);
        g.asked.delete(t.id);
        if (g.limits.concurrency !== undefined) this.held.set(t.id, g);
        this.options.dispatch(t);
      }
      if (g.waiting.length && grant.nextFree) {
        g.blockedUntil = grant.nextFree.getTime();
        next = Math.min(next ?? Number.POSITIVE_INFINITY, Math.max(0, g.blockedUntil - Date.now()));
      }
      if (!g.waiting.length) this.groups.delete(`${g.action}\u0000${g.key}`);
    }
    if (this.releases.length) return 0;
    return next;
  }

  /**
   * Runs a pass now and waits for it, for up to `forMs` (shutdown: the slots of ended attempts
   * go back; with the database away, they expire with the TTL instead).
   */
  async flush(forMs = 3000): Promise<void> {
    if (!this.loop.active) return;
    const done = this.loop.passed();
    this.loop.wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, forMs)))]);
    clearTimeout(timer);
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
