import type { ServerResponse } from "node:http";
import type pg from "pg";
import { Loop } from "../core/loop.js";
import type { Logger } from "../log/logger.js";
import { instanceLiveMarks } from "../store/instances.js";

/**
 * Server-sent events for the instance pages. One timer polls, in one statement, a cheap mark
 * (status, updated_at, attempts recorded) of every instance someone is watching; when a mark
 * changes, the instance's view is loaded once and sent to each of its watchers. Inside
 * `waymark supervise` the lifecycle events wake the timer early. A service: start()/stop().
 */
export interface LiveUpdate {
  payload: unknown;
  finished: boolean;
}

interface Watch {
  clients: Set<ServerResponse>;
  mark?: string;
}

export class LiveHub {
  private readonly watches = new Map<string, Watch>();
  /** Polls the watched instances' marks. */
  private readonly poll: Loop;
  /** A comment line now and then keeps proxies from closing an idle stream. */
  private readonly keepAlive: Loop;
  private stopped = false;
  /** Subscriptions between their request and their first view. */
  private starting = 0;

  constructor(
    private readonly options: {
      db: pg.Pool;
      log: Logger;
      load(id: string): Promise<LiveUpdate | undefined>;
      /** @default 500 */
      intervalMs?: number;
    },
  ) {
    const interval = options.intervalMs ?? 500;
    this.poll = new Loop({
      pass: () => this.tick(),
      intervalMs: interval,
      backoffMs: interval,
      maxBackoffMs: interval,
      onError: (e) => options.log.warn("live update failed", { error: (e as Error).message }),
    });
    this.keepAlive = new Loop({
      pass: async () => this.each((res) => res.write(": keep-alive\n\n")),
      intervalMs: 15_000,
    });
  }

  start(): void {
    this.stopped = false;
    this.poll.start();
    this.keepAlive.start();
  }

  /** Instances watched now: each is polled until it ends or its last client leaves. */
  get watching(): number {
    return this.watches.size;
  }

  /** Clients connected now: streams open, and subscriptions still loading their first view. */
  get clients(): number {
    let n = this.starting;
    for (const w of this.watches.values()) n += w.clients.size;
    return n;
  }

  private each(fn: (res: ServerResponse) => void): void {
    for (const w of this.watches.values()) for (const res of w.clients) fn(res);
  }

  /**
   * Streams an instance's updates to one client, starting with its current view. A client that
   * leaves at any moment is forgotten at once: its close is heard from the first line (a listener
   * added after the close would never fire), so one that leaves while the first view loads is
   * never added, and one that leaves later is removed, with its instance when it was the last
   * watcher, so nothing polls for it.
   */
  async subscribe(id: string, res: ServerResponse): Promise<void> {
    if (res.destroyed) return;
    let gone = false;
    let starting = true;
    let watch: Watch | undefined;
    this.starting++;
    const started = () => {
      if (starting) this.starting--;
      starting = false;
    };
    res.once("close", () => {
      gone = true;
      started();
      if (!watch) return;
      watch.clients.delete(res);
      if (!watch.clients.size && this.watches.get(id) === watch) this.watches.delete(id);
    });
    let mark: string | undefined;
    let first: LiveUpdate | undefined;
    try {
      // The mark before the view: a change in between is sent again rather than missed.
      mark = (await instanceLiveMarks(this.options.db, { ids: [id] })).get(id);
      if (gone) return;
      first = await this.options.load(id);
      if (gone) return;
    } finally {
      started();
    }
    if (!first) {
      res.writeHead(404, { "Content-Type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ error: `no instance ${id}` }));
      return;
    }
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    res.write("retry: 2000\n\n");
    send(res, first.payload);
    if (first.finished || this.stopped) return void res.end();
    watch = this.watches.get(id) ?? { clients: new Set<ServerResponse>(), mark };
    this.watches.set(id, watch);
    watch.clients.add(res);
  }

  /** Looks for news now (a lifecycle event). */
  wake(): void {
    if (this.watches.size) this.poll.wake();
  }

  private async tick(): Promise<void> {
    if (!this.watches.size) return;
    const ids = [...this.watches.keys()];
    const marks = await instanceLiveMarks(this.options.db, { ids });
    for (const id of ids) {
      const watch = this.watches.get(id);
      const mark = marks.get(id) ?? "gone";
      if (!watch || watch.mark === mark) continue;
      watch.mark = mark;
      const update = await this.options.load(id);
      for (const res of watch.clients) {
        if (update) send(res, update.payload);
        if (!update || update.finished) res.end();
      }
      if (!update || update.finished) this.watches.delete(id);
    }
  }

  /** Ends every stream; returns when no tick is running. Safe before start() and twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.poll.stop(), this.keepAlive.stop()]);
    this.each((res) => res.end());
    this.watches.clear();
  }
}

function send(res: ServerResponse, payload: unknown): void {
  res.write(`event: update\ndata: ${JSON.stringify(payload)}\n\n`);
}
