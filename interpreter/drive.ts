/**
 * What a driver does with a machine between runs, in one place for both drivers: a supervisor's
 * shard (supervisor/shard.ts, against Postgres) and waymark/testing's in-memory environment. How a
 * run ends an instance (a result that cannot be stored fails it), how its state is written (a
 * state that cannot be stored fails it), and what an instance with nothing to run waits for.
 */
import { checkSize, encode, encodeFailure, type Encoded } from "../core/codec.js";
import { SerializationError } from "../core/errors.js";
import type { Machine } from "./machine.js";
import { snapshotPieces } from "./snapshot.js";

/** How an instance ends, as its row stores it. */
export type Finished = { status: "completed"; result: Encoded } | { status: "failed"; error: Encoded };

/**
 * Runs the machine at `now` until every fiber waits (or it hands the event loop back). Returns
 * how the instance ended, or undefined while it goes on. A workflow's result is encoded and
 * size-checked as it will be stored: one that cannot be fails the instance. A fault of the
 * interpreter, or the step limit, fails it too; `fault` then carries it for the driver's log.
 */
export function machineAdvance(
  m: Machine,
  now: number,
  o: { workflowName: string; maxValueBytes: number },
): { exit: Finished; fault?: { error: unknown } } | undefined {
  try {
    m.run(now);
  } catch (e) {
    return { exit: { status: "failed", error: encodeFailure(e) }, fault: { error: e } };
  }
  const outcome = m.outcome;
  if (!outcome) return undefined;
  if (outcome.status === "failed") return { exit: { status: "failed", error: encodeFailure(outcome.error) } };
  const what = `the result of workflow ${o.workflowName}`;
  try {
    const result = encode(outcome.value, what);
    checkSize(result, what, o.maxValueBytes);
    return { exit: { status: "completed", result } };
  } catch (e) {
    return { exit: { status: "failed", error: encodeFailure(e) } };
  }
}

/**
 * The machine's state as written between steps, or the error the instance fails with when it
 * cannot be written (a state over `maxStateBytes`, WAYMARK_MAX_STATE_BYTES, or one the codec
 * refuses).
 */
export function snapshotStored(m: Machine, maxStateBytes: number): { pieces: string[]; length: number } | { error: Encoded } {
  try {
    const pieces = snapshotPieces(m);
    let length = 0;
    for (const p of pieces) length += p.length;
    if (length > maxStateBytes) {
      throw new SerializationError(
        `it is ${length} bytes, over the limit of ${maxStateBytes} (WAYMARK_MAX_STATE_BYTES): keep large data in actions or your own tables, and pass references`,
      );
    }
    return { pieces, length };
  } catch (e) {
    const err = new Error(`the workflow's state cannot be stored, so it cannot continue durably: ${(e as Error).message}`);
    err.name = (e as Error).name || "SerializationError";
    return { error: encode(err) };
  }
}

/**
 * What an instance with nothing to run and nothing in flight waits for, and so how its driver
 * keeps it (`thresholdMs` is WAYMARK_EVICT_SLEEP_THRESHOLD_MS):
 * - "world": a message or a child's end, with no deadline or a far one (`wakeAt`): kept in memory a
 *   while, then out of memory until the world or the deadline wakes it;
 * - "sleep": a sleep, backoff or deadline at least `thresholdMs` away: out of memory until then;
 * - "timer": one sooner: a timer in memory;
 * - "stuck": nothing that can end (an interpreter bug): the instance fails with `error`.
 */
export type Rest = { kind: "world"; wakeAt: number | undefined } | { kind: "sleep" | "timer"; wakeAt: number } | { kind: "stuck"; error: Encoded };

export function machineRest(m: Machine, now: number, thresholdMs: number): Rest {
  const wake = m.nextWakeAt();
  if (m.waitsOnWorld() && (wake === undefined || wake - now >= thresholdMs)) return { kind: "world", wakeAt: wake };
  if (wake === undefined) {
    return { kind: "stuck", error: encodeFailure(new Error("the workflow waits on nothing that can finish (an interpreter bug): please report it")) };
  }
  return { kind: wake - now >= thresholdMs ? "sleep" : "timer", wakeAt: wake };
}
