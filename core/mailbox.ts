/**
 * The checks on what events, publications and starts take, shared by the SDK (the app's
 * `sendEvent`, a handle's `published`) and the interpreter (the same calls in a workflow), so
 * both refuse the same values with the same words.
 */

/** Event names and publish keys: non-empty strings of at most this many characters. */
const MAX_NAME_LENGTH = 256;

/** Throws a TypeError unless `name` is a usable event name (or publish key: `what`). */
export function checkName(name: unknown, what: string): string {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    const shown = typeof name === "string" ? `a string of ${name.length} characters` : name === null ? "null" : typeof name;
    throw new TypeError(`${what} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters, got ${shown}`);
  }
  return name;
}

/** A `{ timeoutMs? }` option: undefined waits for ever. */
export function waitTimeout(opts: unknown): number | undefined {
  if (opts === undefined || opts === null) return undefined;
  if (typeof opts !== "object") throw new TypeError("the options of waitForEvent must be an object such as { timeoutMs: 60_000 }");
  const t = (opts as { timeoutMs?: unknown }).timeoutMs;
  if (t === undefined) return undefined;
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0) {
    throw new RangeError(`waitForEvent's timeoutMs must be a finite number of milliseconds >= 0, got ${typeof t === "number" ? String(t) : typeof t}`);
  }
  return t;
}

/** An `{ idempotencyKey? }` option (sendEvent, start): the key, or null. */
export function idempotencyKey(opts: unknown, what: string): string | null {
  if (opts === undefined || opts === null) return null;
  if (typeof opts !== "object") throw new TypeError(`the options of ${what} must be an object such as { idempotencyKey: "..." }`);
  const key = (opts as { idempotencyKey?: unknown }).idempotencyKey;
  if (key === undefined) return null;
  if (typeof key !== "string" || key.length === 0 || key.length > 1000 || key.includes("\u0000")) {
    throw new TypeError(
      `idempotencyKey must be a non-empty string of at most 1000 characters without NUL, got ${typeof key === "string" ? JSON.stringify(key.slice(0, 100)) : typeof key}`,
    );
  }
  return key;
}

/** Instance ids are UUIDs: anything else names no instance. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isInstanceId(id: unknown): id is string {
  return typeof id === "string" && UUID.test(id);
}
