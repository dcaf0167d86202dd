import * as pgListen from "pg-listen";
import type { Options, Subscriber } from "pg-listen";
import type { ClientConfig } from "pg";
import type { Logger } from "../log/logger.js";
import { CHANNELS } from "../store/db.js";

/**
 * The supervisor's LISTEN connection (pg-listen): wakes the pollers on new and woken
 * instances, and passes cancellations and schedule changes on. It reconnects with backoff for
 * as long as it takes; after a reconnect every poller looks at once, since notifications sent
 * while it was down are lost.
 */
// pg-listen is CommonJS with `exports.default`: under ESM the function is one level down.
type CreateSubscriber = (config: ClientConfig, options: Options) => Subscriber;
const mod = pgListen as unknown as { default: CreateSubscriber | { default: CreateSubscriber } };
const createSubscriber: CreateSubscriber = typeof mod.default === "function" ? mod.default : mod.default.default;

export interface NotifierHandlers {
  queued(): void;
  cancel(id: string): void;
  schedule(): void;
  reconnected(): void;
}

export class Notifier {
  private subscriber: Subscriber | null = null;

  constructor(
    private readonly connectionString: string,
    private readonly handlers: NotifierHandlers,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const sub = createSubscriber(
      { connectionString: this.connectionString, application_name: "waymark-listen" },
      {
        parse: (s: string) => s,
        paranoidChecking: 10_000,
        retryLimit: Infinity,
        retryTimeout: 0,
        retryInterval: (attempt: number) => Math.min(100 * 2 ** attempt, 5000),
      },
    );
    sub.notifications.on(CHANNELS.work, (payload: string) => {
      if (payload === "queued") this.handlers.queued();
      else if (payload === "schedule") this.handlers.schedule();
      else if (payload?.startsWith("cancel:")) this.handlers.cancel(payload.slice("cancel:".length));
    });
    sub.events.on("error", (e: Error) => this.log.warn("LISTEN connection error", { error: e.message }));
    sub.events.on("reconnect", (attempt: number) => this.log.warn("LISTEN connection lost; reconnecting", { attempt }));
    let first = true;
    sub.events.on("connected", () => {
      if (!first) {
        this.log.info("LISTEN connection restored");
        this.handlers.reconnected();
      }
      first = false;
    });
    await sub.connect();
    await sub.listenTo(CHANNELS.work);
    this.subscriber = sub;
  }

  async stop(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = null;
    if (sub) await sub.close().catch(() => undefined);
  }
}
