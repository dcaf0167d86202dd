/**
 * The fuzzer's oracle: a generated program runs natively (the workflow class's own run(), actions
 * as plain functions) and through the compiler and the interpreter (in process, with a snapshot
 * and a restore after every step, as an instance resumed on another supervisor would be), and
 * both outcomes must be the same once through the codec: the same value, or an error with the
 * same name, message and fields (or the same thrown value), and the same log: the lines console
 * prints natively are the engine's log records, in order, once each. A program the compiler
 * refuses is a failure too: every generated program is in the supported language.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { format, isDeepStrictEqual } from "node:util";
import { runInline } from "waymark";
import { roundTrip } from "../../core/codec.js";
import { runMachine } from "../helpers/machine.js";
import type { Program } from "./generate.js";
import type { LogRecord } from "../../interpreter/machine.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Inside the package, so a program's `import ... from "waymark"` resolves to this one. */
const DIR = path.join(HERE, ".programs", String(process.pid));
let serial = 0;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

async function settle(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** What a failure shows a user: an error's name, message and own fields; any other thrown value as itself. */
function described(e: unknown): unknown {
  if (!(e instanceof Error)) return { thrown: roundTrip(e) };
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(e)) if (k !== "stack") fields[k] = (e as unknown as Record<string, unknown>)[k];
  return { name: e.name, message: e.message, fields: roundTrip(fields) };
}

function shown(o: Outcome): unknown {
  if (o.ok) {
    try {
      return { value: roundTrip(o.value) };
    } catch (e) {
      return { unstorable: (e as Error).message };
    }
  }
  return { error: described(o.error) };
}

export class Divergence extends Error {
  constructor(
    message: string,
    readonly program: string,
  ) {
    super(`${message}\n\n--- program ---\n${program}`);
    this.name = "Divergence";
  }
}

/** Writes the program as a module, imports it (decoration compiles it), and runs it both ways. */
export async function check(program: Program): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const name = `Fuzz${process.pid}_${serial++}`;
  const source = [
    'import { log, workflow, Workflow } from "waymark";',
    'import { add, echo, fail } from "../../actions.js";',
    "",
    program.source.replace("NAME", name),
    "",
  ].join("\n");
  const file = path.join(DIR, `${name}.ts`);
  writeFileSync(file, source);
  let cls: unknown;
  try {
    cls = ((await import(pathToFileURL(file).href)) as Record<string, unknown>)[name];
  } catch (e) {
    throw new Divergence(`the compiler refused a program of the supported language: ${(e as Error).message}`, source);
  } finally {
    rmSync(file, { force: true });
  }
  const args = program.args;
  const printed: Array<[string, string]> = [];
  const native = shown(await settle(() => captured(printed, () => runInline(cls as never, ...(roundTrip(args) as unknown as never[])))));
  const records: LogRecord[] = [];
  const engine = shown(await settle(() => runMachine(cls, roundTrip(args), { restoreEveryStep: true, logs: records })));
  if (!isDeepStrictEqual(native, engine)) {
    throw new Divergence(
      `native and engine differ for arguments ${JSON.stringify(args)}:\n  native: ${JSON.stringify(native, replacer)}\n  engine: ${JSON.stringify(engine, replacer)}`,
      source,
    );
  }
  // The log: the records the engine made, once each, are the lines console printed natively.
  const logged = records.map((r): [string, string] => [r.level, r.message]);
  if (!isDeepStrictEqual(printed, logged)) {
    throw new Divergence(
      `native console output and the engine's log records differ for arguments ${JSON.stringify(args)}:\n  native: ${JSON.stringify(printed)}\n  engine: ${JSON.stringify(logged)}`,
      source,
    );
  }
}

const CONSOLE_LEVELS = { log: "info", info: "info", warn: "warn", error: "error", debug: "debug" } as const;

/** Runs `fn` with console's levels writing to `out` (as [level, the line util.format makes]) instead of the terminal. */
async function captured<T>(out: Array<[string, string]>, fn: () => Promise<T>): Promise<T> {
  const saved = new Map<keyof typeof CONSOLE_LEVELS, (...a: unknown[]) => void>();
  for (const [method, level] of Object.entries(CONSOLE_LEVELS) as Array<[keyof typeof CONSOLE_LEVELS, string]>) {
    saved.set(method, console[method]);
    console[method] = (...a: unknown[]) => void out.push([level, format(...(a as [unknown, ...unknown[]]))]);
  }
  try {
    return await fn();
  } finally {
    for (const [method, original] of saved) console[method] = original;
  }
}

function replacer(_k: string, v: unknown): unknown {
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Object.is(v, -0)) return "-0";
  if (v === undefined) return "undefined";
  if (v instanceof Map) return { Map: [...v] };
  if (v instanceof Set) return { Set: [...v] };
  return v;
}

/** Removes this process's program folder. */
export function cleanUp(): void {
  rmSync(DIR, { recursive: true, force: true });
}
