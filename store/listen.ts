/**
 * One LISTEN connection, for the supervisor (new work, cancellations, schedule changes) and for
 * the SDK (finished instances): pg-listen keeps it, reconnecting with backoff for as long as it
 * takes and listening again on every channel. Notifications sent while it was down are lost, so
 * `onReconnected` says when to look for what was missed.
 *
 * `keepAlive(false)` lets the process exit while the connection is open (the SDK, while nobody
 * waits): the socket is made here, so it can be unref'd, and pg-listen's liveness check is off
 * for such a listener (the SDK's own poll covers a connection that died silently).
 */
import net from "node:net";
import * as pgListen from "pg-listen";
import type { Options, Subscriber } from "pg-listen";
import type { ClientConfig } from "pg";
import type { Logger } from "../log/logger.js";

// pg-listen is CommonJS with `exports.default`: under ESM the function is one level down.
type CreateSubscriber = (config: ClientConfig, options: Options) => Subscriber;
const mod = pgListen as unknown as { default: CreateSubscriber | { default: CreateSubscriber } };
const createSubscriber: CreateSubscriber = typeof mod.default === "function" ? mod.default : mod.default.default;

export interface ListenerOptions {
  connectionString: string;
  /** Shown in pg_stat_activity (`waymark-listen`, `waymark-sdk-listen`). */
  applicationName: string;
  channels: string[];
  onNotification(channel: string, payload: string): void;
  /** The connection came back after it was lost: notifications sent meanwhile are gone. */
  onReconnected?(): void;
  log?: Logger;
  /** Checks every this many ms that the connection still answers. @default 10000; false: never (then nothing keeps the process alive) */
  livenessMs?: number | false;
}

export class Listener {
  private subscriber: Subscriber | null = null;
  private socket: net.Socket | null = null;
  private keep = true;
  private closed = false;

  constructor(private readonly options: ListenerOptions) {}

  /** Connects and listens on every channel; rejects if the first connection fails (the caller may ask again). */
  async connect(): Promise<void> {
    const o = this.options;
    const sub = createSubscriber(
      {
        connectionString: o.connectionString,
        application_name: o.applicationName,
        keepAlive: true,
        // Every (re)connection's socket, made here so that keepAlive(false) can unref it.
        stream: () => {
          const socket = new net.Socket();
          this.socket = socket;
          if (!this.keep || this.closed) socket.unref();
          return socket;
        },
      },
      {
        parse: (s: string) => s,
        paranoidChecking: o.livenessMs ?? 10_000,
        retryLimit: Number.POSITIVE_INFINITY,
        retryTimeout: 0,
        // pg-listen's reconnect loop does not stop at close(): a throw here (after a failed
        // attempt) is the only way to end it.
        retryInterval: (attempt: number) => {
          if (this.closed) throw new Error("the listener is closed");
          return Math.min(100 * 2 ** attempt, 5000);
        },
      },
    );
    for (const channel of o.channels) sub.notifications.on(channel, (payload: string) => o.onNotification(channel, payload));
    sub.events.on("error", (e: Error) => {
      if (!this.closed) o.log?.warn("LISTEN connection error", { error: e.message });
    });
    sub.events.on("reconnect", (attempt: number) => {
      if (!this.closed) o.log?.warn("LISTEN connection lost; reconnecting", { attempt });
    });
    let first = true;
    sub.events.on("connected", () => {
      // A reconnection that was under way when close() was called: close what it opened.
      if (this.closed) {
        void sub.close().catch(() => undefined);
        return;
      }
      if (!first) {
        o.log?.info("LISTEN connection restored");
        o.onReconnected?.();
      }
      first = false;
    });
    try {
      await sub.connect();
      for (const channel of o.channels) await sub.listenTo(channel);
    } catch (e) {
      await sub.close().catch(() => undefined);
      throw e;
    }
    this.subscriber = sub;
  }

  get connected(): boolean {
    return this.subscriber !== null;
  }

  /** Whether the open connection keeps the process alive. */
  keepAlive(on: boolean): void {
    this.keep = on;
    if (on) this.socket?.ref();
    else this.socket?.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    const sub = this.subscriber;
    this.subscriber = null;
    // An unref'd socket would let the process exit with the close still pending.
    this.socket?.ref();
    if (sub) await sub.close().catch(() => undefined);
  }
}
