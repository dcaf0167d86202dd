import test from "ava";
import { readFileSync } from "node:fs";
import type { Instr } from "../../core/ir.js";
import { Machine } from "../../interpreter/machine.js";
import { snapshotRead, snapshotWrite } from "../../interpreter/snapshot.js";
import { definitionOf } from "../../sdk/definition.js";
import { runMachine } from "../helpers/machine.js";
import { CapturingLoops, PlainLoops, ReturnsPromise } from "./fixtures/envs.js";

function ops(cls: unknown): string[] {
  return definitionOf(cls).compiled.ir.fns.flatMap((f) => f.code.map((i: Instr) => i.op));
}

/** Runs to completion answering every action call with `n + 1`, snapshotting between steps; counts stored environments. */
function drive(cls: unknown, args: unknown[]): { result: unknown; maxEnvs: number } {
  const ir = definitionOf(cls).compiled.ir;
  let m = Machine.start(ir, args, 0);
  let maxEnvs = 0;
  for (let i = 0; i < 1000 && !m.outcome; i++) {
    m.run(0);
    if (m.outcome) break;
    const calls = m.takeDispatches();
    const text = snapshotWrite(m);
    maxEnvs = Math.max(maxEnvs, text.split('"t":"env"').length - 1);
    m = snapshotRead(ir, text);
    for (const h of calls) m.actionSucceeded(h.call!.seq, h.call!.attempt, (h.call!.args[0] as number) + 1);
  }
  if (m.outcome?.status !== "completed") throw new Error(`did not complete: ${JSON.stringify(m.outcome)}`);
  return { result: m.outcome.value, maxEnvs };
}

test("loops without captured bindings compile to no block environments", (t) => {
  const list = ops(PlainLoops);
  t.false(list.includes("enter"));
  t.false(list.includes("renew"));
});

test("a captured `for (let ...)` binding gets an environment per iteration", (t) => {
  const list = ops(CapturingLoops);
  t.true(list.includes("enter"));
  t.true(list.includes("exit"));
  t.true(list.includes("renew"));
});

test("snapshots hold one environment for plain loops however long they run", (t) => {
  const { result, maxEnvs } = drive(PlainLoops, [30]);
  t.is(result, 465 + 3);
  t.is(maxEnvs, 1);
});

test("per-iteration environments survive snapshots and stay alive while closures hold them", (t) => {
  const { result, maxEnvs } = drive(CapturingLoops, [5]);
  t.deepEqual(result, [1, 3, 5, 7, 9]);
  t.true(maxEnvs >= 5);
});

test("a returned pending promise is adopted, across a snapshot", async (t) => {
  t.is(drive(ReturnsPromise, [1]).result, 3);
  t.is(await runMachine(ReturnsPromise, [1]), 3);
});

test("a format-1 snapshot (promises stored as raw handles) resumes sealed: held promises settle, and cannot be changed", async (t) => {
  const { HeldPromises } = await import("./fixtures/held-promises.js");
  const fixture = JSON.parse(readFileSync(new URL("./fixtures/held-promises.v1.json", import.meta.url), "utf8")) as { hash: string; snapshot: string };
  const def = definitionOf(HeldPromises);
  t.is(def.compiled.hash, fixture.hash, "the fixture's workflow compiles to the IR the snapshot was written for");
  const m = snapshotRead(def.compiled.ir, fixture.snapshot);
  t.deepEqual(
    m.running().map((h) => h.call!.args),
    [[5], [6], [0]],
  );
  for (const h of m.running()) m.actionSucceeded(h.call!.seq, h.call!.attempt, (h.call!.args[0] as number) * 2);
  m.run(0);
  t.deepEqual(m.outcome, { status: "completed", value: [10, 12, 0, "Object.assign cannot change a promise or an iterator in a workflow"] });
});
