/**
 * Checks of command-line arguments that yargs cannot express, made before anything reaches the
 * database: a bad one is a UsageError, which `waymark` prints as one line and exits 2 (as for
 * yargs's own usage errors), instead of a database error with a stack.
 */
export class UsageError extends Error {
  readonly code = "WAYMARK_USAGE";
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function shown(v: string): string {
  return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
}

/** An instance id: a UUID, as `waymark instances list` prints it. */
export function instanceIdArg(v: string): string {
  if (!UUID.test(v.trim()))
    throw new UsageError(`${shown(v)} is not an instance id: give a UUID such as 0190a8e2-7c1d-7b3e-9f10-2a4b6c8d0e1f (waymark instances list shows them)`);
  return v.trim().toLowerCase();
}

/** A whole number from `min` to `max` for an option such as `--limit`. */
export function countArg(name: string, v: string | number, p: { min: number; max: number }): number {
  const s = String(v).trim();
  const n = /^\d{1,9}$/.test(s) ? Number(s) : NaN;
  if (!(n >= p.min && n <= p.max)) throw new UsageError(`--${name} ${shown(String(v))} is not a whole number from ${p.min} to ${p.max}`);
  return n;
}

/** A workflow or schedule name: not blank (a blank one names nothing). */
export function nameArg(what: string, v: string): string {
  if (!v.trim()) throw new UsageError(`${what} is empty: give a name`);
  return v;
}
