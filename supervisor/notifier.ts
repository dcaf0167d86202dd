/**
 * The supervisor's LISTEN connection: wakes the pollers on new and woken instances, and passes
 * cancellations, messages to running instances and schedule changes on. It reconnects with backoff for as long as it takes;
 * after a reconnect every poller looks at once, since notifications sent while it was down are
 * lost.
 */
import type { Logger } from "../log/logger.js";
import { CHANNELS } from "../store/db.js";
import { Listener } from "../store/listen.js";

export interface NotifierHandlers {
  queued(): void;
  /** An instance was queued to start `inMs` from now. */
  due(inMs: number): void;
  cancel(id: string): void;
  /** A message reached the mailbox of a running instance (this supervisor's, maybe). */
  event(id: string): void;
  /** Another supervisor's exchange granted flow-control slots to `owner`'s waiting calls (no tokens: too many to list). */
  granted(owner: string, tokens: string[]): void;
  schedule(): void;
  reconnected(): void;
}

export class Notifier {
  private readonly listener: Listener;

  constructor(connectionString: string, handlers: NotifierHandlers, log: Logger) {
    this.listener = new Listener({
      connectionString,
      applicationName: "waymark-listen",
      channels: [CHANNELS.work],
      log,
      onNotification: (_channel, payload) => {
        if (payload === "queued") handlers.queued();
        else if (payload?.startsWith("queued in ")) handlers.due(Number(payload.slice("queued in ".length)));
        else if (payload === "schedule") handlers.schedule();
        else if (payload?.startsWith("grant ")) {
          const [, owner = "", tokens = ""] = payload.split(" ");
          handlers.granted(owner, tokens ? tokens.split(",") : []);
        } else if (payload?.startsWith("event:")) handlers.event(payload.slice("event:".length));
        else if (payload?.startsWith("cancel:")) handlers.cancel(payload.slice("cancel:".length));
      },
      onReconnected: () => handlers.reconnected(),
    });
  }

  start(): Promise<void> {
    return this.listener.connect();
  }

  stop(): Promise<void> {
    return this.listener.close();
  }
}
