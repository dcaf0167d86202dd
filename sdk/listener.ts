import pg from "pg";
import { CHANNELS, listen, retryLostConnection } from "../store/db.js";
import { instanceOutcomes, type InstanceOutcome } from "../store/instances.js";

/**
 * The SDK's completion listener: one LISTEN connection per process, shared by every caller
 * waiting on an instance. A NOTIFY on the done channel names finished instances; the listener
 * reads the outcomes of the ones it waits for in one query. Polling every `pollMs` covers a lost
 * notification or a dropped connection, and the connection reconnects with backoff.
 *
 * While nobody waits, the connection's socket is unref'd, so a script that awaited its result
 * can exit without closing anything.
 */
export class DoneListener {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private readonly waiters = new Map<string, Set<(o: InstanceOutcome) => void>>();
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectDelay = 100;
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly pool: pg.Pool,
    private readonly pollMs = 1000,
  ) {}

  /**
   * Resolves once LISTEN is active, so a NOTIFY sent after this cannot be missed. While the
   * database is unreachable (a restart, a failover) it asks again with backoff for up to
   * `forMs`, as the SDK's other statements do: a start() during a short outage waits for it.
   * Callers arriving meanwhile share the attempt (and its deadline, however long theirs).
   */
  async ready(forMs = 15_000): Promise<void> {
    if (this.client) return;
    this.connecting ??= retryLostConnection(() => this.connect(), forMs).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    if (this.closed) throw new Error("the completion listener is closed");
    const client = new pg.Client({ connectionString: this.connectionString, application_name: "waymark-sdk-listen", keepAlive: true });
    client.on("notification", (msg) => {
      if (msg.channel !== CHANNELS.done || !msg.payload) return;
      const ids = msg.payload.split(",").filter((id) => this.waiters.has(id));
      if (ids.length) void this.fetch(ids);
    });
    const lost = () => {
      if (this.client !== client) return;
      this.client = null;
      if (!this.closed && this.waiters.size) this.reconnectSoon();
    };
    client.on("error", lost);
    client.on("end", lost);
    try {
      await client.connect();
      await listen(client, CHANNELS.done);
    } catch (e) {
      // A half-open connection (connected, LISTEN failed) is not left behind (not awaited: a
      // socket that never opened may never report its end).
      void client.end().catch(() => undefined);
      throw e;
    }
    this.client = client;
    this.reconnectDelay = 100;
    this.refresh();
  }

  private reconnectSoon(): void {
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 5000);
    const t = setTimeout(() => {
      this.ready()
        // Anything that finished while the connection was down: look now.
        .then(() => this.fetch([...this.waiters.keys()]))
        .catch(() => {
          if (!this.closed && this.waiters.size) this.reconnectSoon();
        });
    }, delay);
    t.unref();
  }

  /** Keeps the process alive (socket and poll timer) only while someone waits. */
  private refresh(): void {
    const busy = this.waiters.size > 0;
    const socket = (this.client as unknown as { connection?: { stream?: { ref(): void; unref(): void } } } | null)?.connection?.stream;
    if (socket) busy ? socket.ref() : socket.unref();
    if (busy && !this.pollTimer) {
      this.pollTimer = setInterval(() => void this.fetch([...this.waiters.keys()]), this.pollMs);
    } else if (!busy && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
  }

  private async fetch(ids: string[]): Promise<void> {
    if (!ids.length) return;
    let outcomes: InstanceOutcome[];
    try {
      outcomes = await instanceOutcomes(this.pool, { ids, finishedOnly: true });
    } catch {
      return; // the poll tries again
    }
    for (const o of outcomes) {
      const set = this.waiters.get(o.id);
      if (!set) continue;
      this.waiters.delete(o.id);
      for (const cb of set) cb(o);
    }
    this.refresh();
  }

  /** Waits for an instance to finish (connecting first for up to `forMs`, see ready()). */
  async wait(id: string, forMs?: number): Promise<InstanceOutcome> {
    await this.ready(forMs);
    return new Promise<InstanceOutcome>((resolve) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      set.add(resolve);
      this.refresh();
      // It may have finished before we started listening for it.
      void this.fetch([id]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    const c = this.client;
    this.client = null;
    // An unref'd socket would let the process exit with this end() still pending.
    (c as unknown as { connection?: { stream?: { ref(): void } } } | null)?.connection?.stream?.ref();
    if (c) await c.end().catch(() => undefined);
  }
}
