/**
 * `npm run fuzz -- --runs 100000 --seed N`: differential fuzzing for as long as asked. Programs
 * run in batches, each batch in a fresh process (every program is a module, and a long-lived
 * process would keep them all); a batch's seed is the run's seed plus its number, so any batch
 * can be run again alone. Prints each failure's seed, its shrunk program and what differed, and
 * the counts; exits 1 if anything failed.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as fc from "fast-check";
import { programArbitraries, programOf } from "./generate.js";
import { check, cleanUp } from "./oracle.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) {
    process.stderr.write(`--${name} must be a whole number, got ${process.argv[i + 1]}\n`);
    process.exit(2);
  }
  return v;
};

const runs = arg("runs", 1000);
const seed = arg("seed", Date.now() % 1_000_000);
const batch = arg("batch", 2000);

if (process.argv.includes("--child")) {
  // One batch, in this process.
  const result = await fc.check(
    fc.asyncProperty(...programArbitraries(fc), async (tape, n, s, xs) => {
      await check(programOf(tape, [n, s, xs]));
    }),
    { seed, numRuns: runs, includeErrorInReport: true },
  );
  cleanUp();
  if (result.failed) {
    const [tape, n, s, xs] = result.counterexample!;
    process.stdout.write(
      `FAIL seed ${seed} (path ${result.counterexamplePath}; again: --runs ${runs} --seed ${seed} --batch ${runs})\n` +
        `${fc.defaultReportMessage(result) ?? ""}\n\n--- the shrunk program, with arguments ${JSON.stringify([n, s, xs])} ---\n${programOf(tape, [n, s, xs]).source}\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`ok ${result.numRuns}\n`);
  process.exit(0);
}

const started = Date.now();
let done = 0;
let failed = 0;
for (let b = 0; done < runs; b++) {
  const n = Math.min(batch, runs - done);
  const batchSeed = seed + b;
  try {
    execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--child", "--runs", String(n), "--seed", String(batchSeed)], {
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 64 * 2 ** 20,
    });
  } catch (e) {
    failed++;
    process.stdout.write(String((e as { stdout?: Buffer }).stdout ?? e));
  }
  done += n;
  const s = (Date.now() - started) / 1000;
  process.stdout.write(`${done} programs, ${failed} failing batches, ${s.toFixed(0)} s (${(done / s).toFixed(0)}/s), seed ${seed}\n`);
}
process.exit(failed ? 1 : 0);
