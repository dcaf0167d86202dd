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
  cancel(id: string): void;
  /** A message reached the mailbox of a running instance (this supervisor's, maybe). */
  event(id: string): void;
  /** A flow-control slot was freed somewhere: waiting calls ask again. */
  slots(): void;
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
        else if (payload === "schedule") handlers.schedule();
        else if (payload === "slots") handlers.slots();
        else if (payload?.startsWith("event:")) handlers.event(payload.slice("event:".length));
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
