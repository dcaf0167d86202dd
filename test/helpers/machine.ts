import { actionInvoke, actionRegistry } from "../../sdk/action.js";
import { decode, encode, errorToData, type Encoded } from "../../core/codec.js";
import { definitionOf } from "../../sdk/definition.js";
import { Machine, type LogRecord, type MachineOptions } from "../../interpreter/machine.js";
import { snapshotRead as snapshotReadRaw, snapshotWrite } from "../../interpreter/snapshot.js";

/**
 * Drives a workflow's compiled graph through the interpreter in this process, with actions
 * called in-process and a snapshot/restore between every step (so every piece of state must
 * survive a trip through Postgres). Sleeps are skipped by advancing a virtual clock. With
 * `logs`, the log records the workflow makes are added to it as they are made.
 */
export async function runMachine(
  cls: unknown,
  args: unknown[],
  options: { restoreEveryStep?: boolean; machine?: MachineOptions; onYield?: () => void; logs?: LogRecord[] } = {},
): Promise<unknown> {
  const def = definitionOf(cls);
  const ir = JSON.parse(JSON.stringify(def.compiled.ir));
  const machineOptions: MachineOptions = { source: def.compiled.source, ...options.machine };
  let now = 1_000_000;
  let m = Machine.start(
    ir,
    args.map((a) => decode(encode(a))),
    now,
    machineOptions,
  );
  const restore = options.restoreEveryStep ?? true;
  const snapshotRead = (ir: Parameters<typeof snapshotReadRaw>[0], text: string) => snapshotReadRaw(ir, text, machineOptions);
  for (let steps = 0; steps < 100_000; steps++) {
    m.run(now);
    options.logs?.push(...m.takeLogs());
    if (m.yielded()) {
      // It handed the event loop back mid-run: it goes on from where it stopped, here or (restored) anywhere.
      options.onYield?.();
      if (restore) m = snapshotRead(ir, snapshotWrite(m));
      continue;
    }
    if (m.outcome) {
      if (m.outcome.status === "completed") return decode(JSON.parse(JSON.stringify(encode(m.outcome.value))) as Encoded);
      throw decode(JSON.parse(JSON.stringify(encode(m.outcome.error))) as Encoded);
    }
    const batch = m.takeDispatches();
    if (restore) m = snapshotRead(ir, snapshotWrite(m));
    if (batch.length === 0) {
      const wake = m.nextWakeAt();
      if (wake === undefined) {
        const fibers = [...m.fibers.values()].map(
          (f) => `fiber ${f.id} fn ${f.fn} pc ${f.pc} waits ${f.wait ? `${f.wait.kind}#${f.wait.id} ${f.wait.state}` : "-"} resume ${JSON.stringify(f.resume)}`,
        );
        throw new Error(`workflow is stuck: nothing to run, nothing in flight\n${fibers.join("\n")}`);
      }
      now = Math.max(now, wake);
      continue;
    }
    const results = await Promise.all(
      batch.map(async (h) => {
        const call = h.call!;
        const entry = actionRegistry().get(call.name);
        if (!entry) throw new Error(`action ${call.name} is not registered`);
        try {
          const value = await actionInvoke(
            entry,
            call.args.map((a) => decode(a)),
            {
              instanceId: "test",
              actionId: String(call.seq),
              attempt: call.attempt,
              signal: new AbortController().signal,
              progress: () => undefined,
              lastProgress: undefined,
            },
          );
          return { seq: call.seq, attempt: call.attempt, ok: true as const, value: JSON.parse(JSON.stringify(encode(value))) as Encoded };
        } catch (e) {
          return { seq: call.seq, attempt: call.attempt, ok: false as const, error: JSON.parse(JSON.stringify(errorToData(e))) };
        }
      }),
    );
    for (const r of results) {
      if (r.ok) m.actionSucceeded(r.seq, r.attempt, decode(r.value));
      else m.actionFailed(r.seq, r.attempt, r.error, now);
      if (restore) {
        m.run(now);
        options.logs?.push(...m.takeLogs());
        if (m.outcome) break;
        const more = m.takeDispatches();
        if (more.length) {
          // keep it simple: re-queue by failing nothing; these run next round
          for (const h of more) {
            h.call!.status = "new";
            h.call!.attempt -= 1;
          }
        }
        m = snapshotRead(ir, snapshotWrite(m));
      }
    }
  }
  throw new Error("workflow did not finish in 100000 steps");
}
