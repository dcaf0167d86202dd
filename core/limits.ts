/**
 * What one workflow may ask of the supervisor that runs it. Workflow code shares a process (and
 * its heap and event loop) with every other instance the supervisor holds, so the interpreter
 * bounds what a single line can allocate and how long code may run without waiting.
 *
 * The allocation caps are fixed: far above what workflow code needs (large data belongs in
 * actions, and a value must fit WAYMARK_MAX_VALUE_BYTES to be stored anyway), far below what
 * hurts a supervisor. Breaking one throws a RangeError in the workflow, as V8 does for its own
 * limits ("Invalid array length"), which the workflow may catch.
 */

/** The longest string a workflow may build (UTF-16 code units; 64 MiB). */
const MAX_STRING_LENGTH = 2 ** 25;
/** The longest array a workflow may build or grow (elements). */
export const MAX_ARRAY_LENGTH = 2 ** 22;
/** The largest BigInt a workflow may compute, in bits (about 315,000 decimal digits). */
const MAX_BIGINT_BITS = 2 ** 20;

/**
 * Steps (interpreter instructions, those of synchronous callbacks included) an instance may run
 * without waiting, by default: about two seconds of work on a small machine (bench/stall.ts).
 * Past it the instance fails with a `WorkflowLimitError`; the workflow's own try/catch does not
 * see it.
 */
export const DEFAULT_STEP_LIMIT = 50_000_000;

/**
 * Steps after which a running instance hands the event loop back (heartbeats, IPC, signals and
 * the other instances go first), then continues: a few milliseconds of work.
 */
export const SLICE_STEPS = 50_000;

/**
 * A workflow's log (`console.log` in `run()`): the longest message a record keeps (UTF-8 bytes;
 * a longer one is cut and ends in "…(truncated)"), the records an instance may make between two
 * waits (past it they are counted, not kept, and one warning says how many were dropped), and the
 * records kept per instance in waymark.workflow_logs (the latest ones).
 */
export const LOG_MESSAGE_MAX_BYTES = 8192;
export const LOG_RECORDS_PER_RUN = 1000;
export const LOG_RECORDS_KEPT = 1000;

function tooLong(length: number): RangeError {
  return new RangeError(`Invalid string length: ${length} characters is over the workflow limit of ${MAX_STRING_LENGTH}; build large text in an action`);
}

export function tooMany(length: number): RangeError {
  return new RangeError(`Invalid array length: ${length} elements is over the workflow limit of ${MAX_ARRAY_LENGTH}; handle large collections in an action`);
}

/** A string or array built by native code is checked before the workflow sees it. */
export function sized<T>(v: T): T {
  if (typeof v === "string") {
    if (v.length > MAX_STRING_LENGTH) throw tooLong(v.length);
  } else if (Array.isArray(v) && v.length > MAX_ARRAY_LENGTH) throw tooMany(v.length);
  return v;
}

function bits(n: bigint): number {
  return (n < 0n ? -n : n).toString(16).length * 4;
}

/** Refuses a BigInt operation whose result would be over MAX_BIGINT_BITS, before computing it. */
export function checkBigInt(op: string, l: bigint, r: bigint): void {
  let estimate: number;
  switch (op) {
    case "**":
      estimate = l === 0n || l === 1n || l === -1n || r <= 0n ? 0 : bits(l) * Number(r);
      break;
    case "<<":
      estimate = l === 0n ? 0 : bits(l) + Number(r);
      break;
    case "*":
      estimate = bits(l) + bits(r);
      break;
    default:
      return;
  }
  if (estimate > MAX_BIGINT_BITS) {
    throw new RangeError(
      `Maximum BigInt size exceeded: ${op} would give about ${estimate} bits, over the workflow limit of ${MAX_BIGINT_BITS}; compute it in an action`,
    );
  }
}

/**
 * Checks a native method's arguments before it runs, where its result could blow up the heap
 * from one line (`"x".repeat(1e9)`, `list.join(huge)`); other results are checked after (`sized`).
 * Only plain numbers and strings are looked at: converting anything else would run the
 * workflow's own `valueOf` or `toString` a second time.
 */
export function checkNativeCall(receiver: unknown, key: string, args: unknown[]): void {
  const n = args[0];
  if (typeof receiver === "string") {
    if (key === "repeat" && typeof n === "number" && n > 0 && receiver.length * Math.trunc(n) > MAX_STRING_LENGTH)
      throw tooLong(receiver.length * Math.trunc(n));
    if ((key === "padStart" || key === "padEnd") && typeof n === "number" && n > MAX_STRING_LENGTH) throw tooLong(n);
  } else if (Array.isArray(receiver) && key === "join") {
    const sep = n === undefined ? 1 : typeof n === "string" ? n.length : 0;
    if (receiver.length * sep > MAX_STRING_LENGTH) throw tooLong(receiver.length * sep);
  }
}

/** `Array(n)`, `new Array(n)` and `Array.from({ length: n })` with a length over the cap. */
export function checkArrayLength(n: unknown): void {
  if (typeof n === "number" && n > MAX_ARRAY_LENGTH && Number.isInteger(n)) throw tooMany(n);
}
