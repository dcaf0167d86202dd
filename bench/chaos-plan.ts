/**
 * What the chaos soak does, decided up front from its seed: the instances (their arguments and
 * when each is started) and the faults (their kinds and times). The same seed gives the same
 * plan; the run around it (which pids exist, how the machine's load moves) is not replayable.
 */
import { parseArgs } from "node:util";
import type { ChaosArgs } from "./chaos-workflows.js";

export type FaultKind = "child-kill" | "supervisor-kill" | "postgres-crash" | "terminate";
export const FAULT_KINDS: FaultKind[] = ["child-kill", "supervisor-kill", "postgres-crash", "terminate"];

export interface ChaosOptions {
  seed: number;
  instances: number;
  /** Seconds over which instances are started and faults injected. */
  durationS: number;
  supervisors: number;
  faults: Record<FaultKind, number>;
  /** Keep the run directory (logs, the database) even when every check passes. */
  keep: boolean;
}

interface PlannedInstance {
  args: ChaosArgs;
  /** When to start it, in ms from the start of the run. */
  atMs: number;
}

export interface PlannedFault {
  kind: FaultKind;
  atMs: number;
  /** A number in [0, 1) that picks the victim among the candidates (a supervisor, a child). */
  pick: number;
}

export interface Plan {
  instances: PlannedInstance[];
  faults: PlannedFault[];
}

/** mulberry32: a small seeded generator, the same sequence on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function plan(o: ChaosOptions): Plan {
  const random = rng(o.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const duration = o.durationS * 1000;
  // Instances start over the first 80%, so that the last faults (by 75%) still find work.
  const instances = Array.from(
    { length: o.instances },
    (_, i): PlannedInstance => ({
      args: { key: `c${i}`, seed: int(0, 2 ** 31), width: int(2, 8), steps: int(4, 12), long: random() < 0.5 },
      atMs: Math.round(random() * 0.8 * duration),
    }),
  ).sort((a, b) => a.atMs - b.atMs);
  // Faults land between 10% and 75%, at least `gap` apart so that each one's recovery is
  // measured on its own (a gap of 10 s is more than the limit the recovery is held to).
  const kinds = FAULT_KINDS.flatMap((k) => Array.from({ length: o.faults[k] }, () => k));
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = int(0, i);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const lo = 0.1 * duration;
  const hi = 0.75 * duration;
  const gap = Math.min(10_000, (hi - lo) / Math.max(1, kinds.length));
  const slack = hi - lo - gap * Math.max(0, kinds.length - 1);
  const offsets = kinds.map(() => random() * slack).sort((a, b) => a - b);
  const faults = kinds.map((kind, i): PlannedFault => ({ kind, atMs: Math.round(lo + offsets[i]! + i * gap), pick: random() }));
  return { instances, faults };
}

export const USAGE = `usage: npm run chaos -- [--seed n] [--instances n] [--duration s] [--supervisors n]
                       [--child-kills n] [--supervisor-kills n] [--postgres-crashes n] [--terminates n] [--keep]
  --seed n              the seed of the plan (default: a random one, printed; pass it to replay the plan)
  --instances n         workflow instances to start (default 300)
  --duration s          seconds over which they start and faults are injected (default 180)
  --supervisors n       waymark supervise processes (default 3; each one killed is replaced)
  --child-kills n       kill -9 of an action child (default 4)
  --supervisor-kills n  kill -9 of a supervisor (default 3)
  --postgres-crashes n  immediate-mode stop of PostgreSQL, then a start on the same data (default 1)
  --terminates n        pg_terminate_backend of every waymark connection (default 2)
  --keep                keep the run directory (logs, database) even when every check passes`;

export function parseChaosArgs(argv: string[]): ChaosOptions {
  const count = { type: "string" } as const;
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: count,
      instances: count,
      duration: count,
      supervisors: count,
      "child-kills": count,
      "supervisor-kills": count,
      "postgres-crashes": count,
      terminates: count,
      keep: { type: "boolean", default: false },
    },
  });
  const num = (name: string, v: string | undefined, fallback: number, min: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} takes a whole number of at least ${min}, not ${v}`);
    return n;
  };
  return {
    seed: num("seed", values.seed, Math.floor(Math.random() * 2 ** 31), 0),
    instances: num("instances", values.instances, 300, 1),
    durationS: num("duration", values.duration, 180, 10),
    supervisors: num("supervisors", values.supervisors, 3, 1),
    faults: {
      "child-kill": num("child-kills", values["child-kills"], 4, 0),
      "supervisor-kill": num("supervisor-kills", values["supervisor-kills"], 3, 0),
      "postgres-crash": num("postgres-crashes", values["postgres-crashes"], 1, 0),
      terminate: num("terminates", values.terminates, 2, 0),
    },
    keep: values.keep!,
  };
}
