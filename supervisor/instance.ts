import type { Span } from "@opentelemetry/api";
import type { Machine } from "../interpreter/machine.js";
import type { Handle } from "../interpreter/values.js";
import { snapshotStored } from "../interpreter/drive.js";
import { encode, encodeFailure, type Encoded } from "../core/codec.js";
import { SerializationError, WorkflowCancelledError } from "../core/errors.js";
import type { AttemptWrite } from "../store/attempts.js";
import type { InstanceWrite } from "../store/progress.js";
import type { LogWrite } from "../store/logs.js";
import { LOG_RECORDS_KEPT } from "../core/limits.js";
import type { Task } from "../child/protocol.js";
import { ChunkMemory, STATE_CHUNKED_FROM } from "../store/state.js";
import type { Writable } from "./persister.js";

/** An attempt running in a child, as the executor tracks it. */
export interface Inflight {
  seq: number;
  attempt: number;
  name: string;
  node: string;
  args: Encoded[];
  /** When it was handed to the pool; it starts when its child takes it (pool.startedAt). */
  dispatchedAt: number;
  timeoutMs: number;
  /** The latest progress it reported. */
  progress?: Encoded;
}

/** How an instance leaves memory at its next write. */
export type Exit =
  | { kind: "finished"; status: "completed" | "failed" | "cancelled"; result?: Encoded; error?: Encoded }
  /** `wakeAt` undefined: until a message (or a child's end) wakes it. */
  | { kind: "sleeping"; wakeAt: number | undefined }
  /** Back to the queue; `keepState`: with the state it was claimed with (nothing ran). */
  | { kind: "released"; keepState?: true };

/**
 * An instance held by this supervisor: its machine, the attempt rows and dispatches that wait
 * for the next durable write, and the attempts running in children.
 */
export class LiveInstance implements Writable {
  readonly attempts: AttemptWrite[] = [];
  /** Per call (by seq): the latest progress any of its attempts reported, handed to its retries. */
  lastProgress: Map<number, Encoded> | undefined;
  /** Its span here (started under a caller's span), and the traceparent its tasks carry. */
  span: Span | undefined;
  trace: string | undefined;
  /** When the first action result since the instance last sent an action arrived (step latency). */
  resultAt: number | undefined;
  /** Dispatches whose inputs are not yet durable: sent once the next write lands. */
  readonly toSend: Task[] = [];
  /** Dispatches taken by the write now on its way (sent when it lands). */
  inWrite: Task[] = [];
  /** Effects (sends, child starts, publications) that go out once the next write lands. */
  readonly toApply: Handle[] = [];
  /**
   * Log records its workflow made that are not yet on file: they go with the next write, which
   * carries the state that made them (records set `needsSnapshot`). The latest LOG_RECORDS_KEPT.
   */
  readonly logs: LogWrite[] = [];
  /** Messages may have reached its mailbox past the position its machine has read. */
  unread = false;
  /** A read of its mailbox is on its way (and `fetchAgain`: another is wanted after it). */
  fetching = false;
  fetchAgain = false;
  /** Since when it has been idle, waiting only on the world (a message, a child): it leaves memory after a while. */
  idleSince = 0;
  readonly inflight = new Map<string, Inflight>();
  exit: Exit | undefined;
  wakeTimer: NodeJS.Timeout | null = null;
  /** Set when the instance left memory: late callbacks ignore it. */
  gone = false;
  /** A continuation of a run that handed the event loop back is scheduled. */
  continuing = false;
  /** Isolated (one more death of its supervisor would fail it), and it has written no progress since. */
  suspect = false;
  /** Its state's chunks on file, once its state is large enough to be written in parts (store/state.ts). */
  chunks: ChunkMemory | undefined;
  /**
   * The machine holds state that must be written before anything else is dispatched (new action
   * calls computed from results). Writes without it only add attempt rows: a resumed instance
   * applies those to its last snapshot.
   */
  needsSnapshot = false;
  /**
   * Nothing but the arguments is on record and no result has been applied yet: the first action
   * calls can go out without a write, since a restart recomputes them from the arguments.
   */
  sendUnwritten: boolean;

  constructor(
    readonly id: string,
    readonly workflowName: string,
    readonly versionId: number,
    readonly epoch: number,
    public machine: Machine,
    private readonly afterWrite: (live: LiveInstance, sent: Task[], effects: Handle[], eventsSent: number | undefined) => void,
    fresh: boolean,
    /** WAYMARK_MAX_STATE_BYTES: a larger snapshot fails the instance instead of being written. */
    private readonly maxStateBytes: number,
  ) {
    this.sendUnwritten = fresh;
  }

  /** The machine's snapshot; a state that cannot be stored fails the instance (not the supervisor). */
  private snapshot(): { pieces: string[]; length: number } | undefined {
    const stored = snapshotStored(this.machine, this.maxStateBytes);
    if ("pieces" in stored) return stored;
    this.exit = { kind: "finished", status: "failed", error: stored.error };
    return undefined;
  }

  /**
   * Postgres refused this instance's write for what it carries: it fails, with that reason, and
   * the refused data (its pending attempt rows and dispatches) is left out of the next write.
   */
  refused(reason: string): void {
    this.exit = { kind: "finished", status: "failed", error: encodeFailure(new SerializationError(`the workflow's state could not be written: ${reason}`)) };
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    this.attempts.length = 0;
    this.toSend.length = 0;
    this.logs.length = 0;
    this.needsSnapshot = false;
  }

  /** Log records to write with the next state: only the latest LOG_RECORDS_KEPT (the table keeps no more). */
  addLogs(records: LogWrite[]): void {
    this.logs.push(...records);
    this.trimLogs();
  }

  private trimLogs(): void {
    if (this.logs.length > LOG_RECORDS_KEPT) this.logs.splice(0, this.logs.length - LOG_RECORDS_KEPT);
  }

  /** The error this instance ends with if it is cancelled. */
  cancelError(): Encoded {
    return encode(new WorkflowCancelledError({ instanceId: this.id, workflowName: this.workflowName }));
  }

  collect(): { write: InstanceWrite; attempts: AttemptWrite[]; after: (eventsSent?: number) => void; undo: () => void } {
    const attempts = this.attempts.splice(0);
    const sends = this.toSend.splice(0);
    const effects = this.toApply.splice(0);
    const logs = this.logs.length ? this.logs.splice(0) : [];
    // Messages the state took are consumed by the write of that state, never by one without it;
    // log records too, so that a record is on file exactly when the step that made it is.
    const consumed = this.machine.takeConsumed();
    if (consumed.length || effects.length || logs.length) this.needsSnapshot = true;
    // Take the snapshot first: if it fails, the instance leaves as failed with this write.
    const keep = this.exit?.kind === "finished" || (this.exit?.kind === "released" && this.exit.keepState);
    const snap = keep ? undefined : this.needsSnapshot || sends.length || this.exit ? this.snapshot() : undefined;
    // A large state goes in parts (below): its pieces are cut as they are, never joined.
    const inParts = snap !== undefined && (this.chunks?.any || snap.length >= STATE_CHUNKED_FROM);
    const state = snap === undefined ? undefined : inParts ? "" : snap.pieces.join("");
    const exit = this.exit;
    let write: InstanceWrite;
    if (exit?.kind === "finished") {
      write = { id: this.id, epoch: this.epoch, status: exit.status, state: null, workflowName: this.workflowName };
      if (exit.result !== undefined) write.result = exit.result;
      if (exit.error !== undefined) write.error = exit.error;
    } else if (exit?.kind === "sleeping") {
      write = { id: this.id, epoch: this.epoch, status: "sleeping", state, cancelError: this.cancelError() };
      if (exit.wakeAt !== undefined) write.scheduledAt = new Date(exit.wakeAt);
    } else if (exit?.kind === "released") {
      write = { id: this.id, epoch: this.epoch, status: "queued", state, scheduledAt: new Date(), cancelError: this.cancelError() };
    } else if (this.needsSnapshot || sends.length) {
      write = { id: this.id, epoch: this.epoch, status: "running", state };
    } else {
      write = { id: this.id, epoch: this.epoch, status: "running" };
    }
    // A large state goes in parts: the manifest on the row, and only the chunks not yet on file.
    let chunkMemory: { texts: string[]; ids: number[] } | undefined;
    if (write.state !== undefined && (inParts || (write.state === null && this.chunks?.any))) {
      const memory = (this.chunks ??= new ChunkMemory());
      const parts = memory.write(write.state === null ? null : snap!.pieces);
      if (memory.lost) write.chunked = true;
      write.state = parts.state;
      if (parts.put.length) write.chunks = parts.put;
      if (parts.drop.length) write.chunkDrop = parts.drop;
      chunkMemory = parts.memory;
    }
    if (this.machine.waitsOnWorld()) write.seen = this.machine.seenPos;
    if (this.machine.children.size) write.awaitsChildren = true;
    if (consumed.length) write.consumed = consumed;
    if (logs.length) write.logs = logs;
    const snapshotted = this.needsSnapshot;
    this.needsSnapshot = false;
    this.inWrite = sends;
    const progress = write.state !== undefined || attempts.length > 0 || write.status !== "running";
    return {
      write,
      attempts,
      after: (eventsSent) => {
        this.inWrite = [];
        if (chunkMemory) this.chunks!.landed(chunkMemory);
        // Progress is on record (and its deaths in a row cleared): no longer a suspect.
        if (progress) this.suspect = false;
        this.afterWrite(this, sends, effects, eventsSent);
      },
      undo: () => {
        this.inWrite = [];
        if (chunkMemory) this.chunks!.forget();
        this.attempts.unshift(...attempts);
        this.toSend.unshift(...sends);
        this.toApply.unshift(...effects);
        this.logs.unshift(...logs);
        this.trimLogs();
        this.machine.consumed.unshift(...consumed);
        this.needsSnapshot ||= snapshotted;
      },
    };
  }
}

/** The attempt token: a result carrying a stale token is discarded. */
export function attemptToken(instanceId: string, seq: number, attempt: number): string {
  return `${instanceId}/${seq}/${attempt}`;
}

export function tokenInstance(token: string): string {
  return token.slice(0, token.indexOf("/"));
}
