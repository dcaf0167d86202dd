import type pg from "pg";
import { Loop } from "../core/loop.js";
import { CHANNELS, retryLostConnection } from "../store/db.js";
import { instanceOutcomes, OUTCOMES, outcomesParse, type InstanceOutcome } from "../store/instances.js";
import { Listener } from "../store/listen.js";

/**
 * The SDK's completion listener: one LISTEN connection per process (store/listen.ts), shared by
 * every caller waiting on an instance. A NOTIFY on the done channel names finished instances; the
 * listener reads the outcomes of the ones it waits for in one query. A poll every `pollMs` covers
 * a lost notification or a connection down, and the connection reconnects with backoff.
 *
 * While nobody waits, neither the connection nor the poll keeps the process alive, so a script
 * that awaited its result can exit without closing anything.
 */
export class DoneListener {
  private readonly listener: Listener;
  private connecting: Promise<void> | null = null;
  private readonly waiters = new Map<string, Set<(o: InstanceOutcome) => void>>();
  /** Callers waiting for other notifications on the done channel, by payload. */
  private readonly watchers = new Map<string, Set<() => void>>();
  /** The fallback poll, running only while someone waits. */
  private readonly poll: Loop;
  private closed = false;

  constructor(
    connectionString: string,
    private readonly pool: pg.Pool,
    private readonly pollMs = 1000,
  ) {
    this.listener = new Listener({
      connectionString,
      applicationName: "waymark-sdk-listen",
      channels: [CHANNELS.done],
      livenessMs: false,
      onNotification: (_channel, payload) => {
        // "published:<id>": a value was published; "outcome:[...]": finished instances with their
        // outcomes (store/progress.ts); anything else lists finished instances, to read.
        if (payload?.startsWith("published:")) {
          for (const wake of this.watchers.get(payload) ?? []) wake();
          return;
        }
        if (payload?.startsWith(OUTCOMES)) {
          this.settle(outcomesParse(payload));
          return;
        }
        const ids = payload ? payload.split(",").filter((id) => this.waiters.has(id)) : [];
        if (ids.length) void this.fetch(ids);
      },
      // Anything that finished while the connection was down: look now.
      onReconnected: () => this.poll.wake(),
    });
    // The poll runs only while someone waits, and then keeps the process alive (as a pending
    // result should), whatever the connection's state.
    this.poll = new Loop({ pass: () => this.fetch([...this.waiters.keys()]), intervalMs: pollMs });
  }

  /**
   * Resolves once LISTEN is active, so a NOTIFY sent after this cannot be missed. While the
   * database is unreachable (a restart, a failover) it asks again with backoff for up to
   * `forMs`, as the SDK's other statements do: a start() during a short outage waits for it.
   * Callers arriving meanwhile share the attempt (and its deadline, however long theirs).
   */
  async ready(forMs = 15_000): Promise<void> {
    if (this.listener.connected) return;
    if (this.closed) throw new Error("the completion listener is closed");
    this.connecting ??= retryLostConnection(() => this.listener.connect(), forMs).finally(() => {
      this.connecting = null;
    });
    await this.connecting;
    this.refresh();
  }

  /** Keeps the process alive (connection and poll) only while someone waits. */
  private refresh(): void {
    const busy = this.waiters.size > 0;
    this.listener.keepAlive(busy);
    // Its first look comes after an interval: whoever began waiting looked, or needs not.
    if (busy && !this.poll.active) this.poll.start({ firstInMs: this.pollMs });
    else if (!busy && this.poll.active) void this.poll.stop();
  }

  private async fetch(ids: string[]): Promise<void> {
    if (!ids.length) return;
    let outcomes: InstanceOutcome[];
    try {
      outcomes = await instanceOutcomes(this.pool, { ids, finishedOnly: true });
    } catch {
      return; // the poll tries again
    }
    this.settle(outcomes);
  }

  private settle(outcomes: InstanceOutcome[]): void {
    let settled = false;
    for (const o of outcomes) {
      const set = this.waiters.get(o.id);
      if (!set) continue;
      this.waiters.delete(o.id);
      settled = true;
      for (const cb of set) cb(o);
    }
    if (settled) this.refresh();
  }

  /** Waits for an instance to finish (connecting first for up to `forMs`, see ready()). */
  async wait(id: string, forMs?: number): Promise<InstanceOutcome> {
    await this.ready(forMs);
    const waiting = this.watch(id);
    // It may have finished before we started listening for it.
    void this.fetch([id]);
    return waiting.outcome;
  }

  /**
   * Starts waiting for an instance without looking whether it finished already: for a caller
   * that knows it cannot have (the listener was ready before the instance was queued, or the
   * caller reads it next). Call ready() first. `stop()` gives up waiting (the queueing failed).
   */
  watch(id: string): { outcome: Promise<InstanceOutcome>; stop: () => void } {
    let resolve!: (o: InstanceOutcome) => void;
    const outcome = new Promise<InstanceOutcome>((r) => (resolve = r));
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(resolve);
    this.refresh();
    return {
      outcome,
      stop: () => {
        const now = this.waiters.get(id);
        if (!now?.delete(resolve)) return;
        if (!now.size) this.waiters.delete(id);
        this.refresh();
      },
    };
  }

  /**
   * Asks `check` until it finds something or `deadline` passes, again whenever `key` is notified
   * on the done channel and at least every poll interval (the fallback). Call ready() first.
   */
  async waitFor<T>(key: string, deadline: number, check: () => Promise<{ value: T } | undefined>): Promise<T | undefined> {
    for (;;) {
      let wake!: () => void;
      let timer: NodeJS.Timeout | undefined;
      const woke = new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, Math.max(0, Math.min(this.pollMs, deadline - Date.now())));
      });
      let set = this.watchers.get(key);
      if (!set) this.watchers.set(key, (set = new Set()));
      set.add(wake);
      try {
        const got = await check();
        if (got) return got.value;
        if (Date.now() >= deadline) return undefined;
        await woke;
      } finally {
        clearTimeout(timer);
        set.delete(wake);
        if (!set.size) this.watchers.delete(key);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.poll.stop();
    await this.listener.close();
  }
}
