import test from "ava";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { format, inspect } from "node:util";
import { action, log, log as say, sleep, workflow, Workflow } from "waymark";
import { LOG_MESSAGE_MAX_BYTES, LOG_RECORDS_PER_RUN } from "../../core/limits.js";
import type { Expr } from "../../core/ir.js";
import { logMessage } from "../../interpreter/format.js";
import { Machine, type LogRecord } from "../../interpreter/machine.js";
import { snapshotRead, snapshotWrite } from "../../interpreter/snapshot.js";
import { definitionOf } from "../../sdk/definition.js";

/**
 * `console.log` in a workflow: compiled to log records (any level, in helpers and callbacks,
 * with awaits in the arguments), made once per executed step (a machine restored from its
 * snapshot numbers on and does not make them again), formatted as console formats them without
 * running any code of the workflow's values, capped in size and in number.
 */

export const loggingDouble = action("logging.double", async (n: number) => n * 2);

const Chatty = workflow(
  class Chatty extends Workflow {
    async run(items: number[]) {
      console.log("start", items.length);
      console.info("info %s", "level");
      console.warn("warn");
      console.error("error");
      console.debug("debug");
      log.info("via log");
      say.log("via an alias");
      items.map((n) => log.debug("item %d", n));
      const r = console.log("doubled", await loggingDouble(items[0]!));
      await this.helper();
      await sleep(1000);
      log.error("after the sleep");
      return r;
    }

    async helper() {
      log.warn("in a helper");
    }
  },
);

const SOURCE = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
/** The line of this file (1-based) holding `text`. */
const lineOf = (text: string) => SOURCE.findIndex((l) => l.includes(text)) + 1;

function prints(e: unknown, out: Array<Extract<Expr, { k: "print" }>> = []): Array<Extract<Expr, { k: "print" }>> {
  if (Array.isArray(e)) for (const x of e) prints(x, out);
  else if (e && typeof e === "object") {
    if ((e as { k?: string }).k === "print") out.push(e as Extract<Expr, { k: "print" }>);
    for (const v of Object.values(e)) prints(v, out);
  }
  return out;
}

test("console.log/info/warn/error/debug and log.* compile to log records at their levels (console.log at info)", (t) => {
  const compiled = prints(definitionOf(Chatty).compiled.ir.fns);
  t.deepEqual(
    compiled.map((p) => p.level).sort(),
    ["debug", "debug", "error", "error", "info", "info", "info", "info", "info", "warn", "warn"],
    "every call is a record",
  );
  t.true(compiled.every((p) => /^log@\d+:\d+$/.test(p.node)));
});

/** Runs Chatty to the end, answering its action, with a snapshot and restore after every run; the records, as taken after each run. */
function drive(restore: boolean): { records: LogRecord[]; result: unknown } {
  const { ir, source } = definitionOf(Chatty).compiled;
  let now = 1_000;
  let m = Machine.start(ir, [[3, 4]], now, { source });
  const records: LogRecord[] = [];
  for (let i = 0; i < 20 && !m.outcome; i++) {
    m.run(now);
    records.push(...m.takeLogs());
    const calls = m.takeDispatches();
    if (restore && !m.outcome) m = snapshotRead(ir, snapshotWrite(m), { source });
    for (const h of calls) m.actionSucceeded(h.call!.seq, h.call!.attempt, (h.call!.args[0] as number) * 2);
    now = Math.max(now + 1, m.nextWakeAt() ?? now);
  }
  if (m.outcome?.status !== "completed") throw new Error(`did not complete: ${JSON.stringify(m.outcome)}`);
  return { records, result: m.outcome.value };
}

test("records carry level, message, file line, node and time, and are made once per executed step: a restored machine numbers on", (t) => {
  const held = drive(false);
  const restored = drive(true);
  t.deepEqual(restored.records, held.records);
  t.is(held.result, undefined, "console.log(...) is undefined");
  const records = held.records;
  t.deepEqual(
    records.map((r) => [r.seq, r.level, r.message]),
    [
      [1, "info", "start 2"],
      [2, "info", "info level"],
      [3, "warn", "warn"],
      [4, "error", "error"],
      [5, "debug", "debug"],
      [6, "info", "via log"],
      [7, "info", "via an alias"],
      [8, "debug", "item 3"],
      [9, "debug", "item 4"],
      [10, "info", "doubled 6"],
      [11, "warn", "in a helper"],
      [12, "error", "after the sleep"],
    ],
  );
  t.is(records[0]!.line, lineOf('console.log("start"'));
  t.is(records[7]!.line, lineOf('log.debug("item %d"'));
  t.is(records[10]!.line, lineOf('log.warn("in a helper")'));
  // The time is the run's `now`: the first steps at the start, the last after the sleep.
  t.is(records[0]!.at, 1_000);
  t.true(records[11]!.at >= 2_000);
  t.is(new Set(records.map((r) => r.node)).size, 11, "one node per call site (the callback's call is one)");
});

/** Plain data whose formatting calls no code: the message is what util.format gives. */
const LIKE_CONSOLE: unknown[][] = [
  ["plain"],
  ["a %s b", "x"],
  ["%s and %s", "one"],
  ["%d|%i|%f", "42.5", 42.9, "1.5e3"],
  ["%d %i", 7n, -3n],
  ["%s %d", -0, -0],
  ["%s", 5n],
  ["%j", { a: [1, "x", null, undefined], b: undefined, c: new Date(0), d: { e: true } }],
  ["%j", [undefined, () => 1]],
  ["%o", { a: [1, 2], s: "t" }],
  ["%O", { a: { b: { c: { d: 1 } } } }],
  ["%%s %s %%", "x"],
  ["100%", 5],
  ["%c styled", "color: red"],
  ["%x unknown", 1],
  ["%s %s %s", null, undefined, Symbol("q")],
  ["%s", [1, [2, [3, [4]]]]],
  ["%s", new Map([[1, { a: 2 }]])],
  ["%s", new Set(["a"])],
  ["%s", new Date(0)],
  ["%d", new Date(5)],
  ["%s", /re/g],
  ["%s", new Error("boom")],
  ["%j", "text"],
  ["a", { x: 1 }, [1, 2], "s", 3, null, undefined, 4n],
  [{ x: 1 }, "y", "%s"],
  [42],
  [],
  ["multi\nline", { deep: { er: { still: { more: 1 } } } }],
];

test("arguments are formatted as console formats them", (t) => {
  for (const args of LIKE_CONSOLE) t.is(logMessage(args), format(...(args as [unknown, ...unknown[]])), inspect(args));
  const cycle: Record<string, unknown> = { name: "c" };
  cycle.self = cycle;
  t.is(logMessage(["%j", cycle]), "[Circular]");
  t.is(logMessage(["%s", cycle]), format("%s", cycle));
  t.is(logMessage([cycle]), format(cycle));
});

test("formatting calls no getter, toString, valueOf, toJSON, Symbol.toPrimitive or inspect.custom", (t) => {
  const calls: string[] = [];
  const hostile = {
    get secret() {
      calls.push("getter");
      return "s";
    },
    toString() {
      calls.push("toString");
      return "T";
    },
    valueOf() {
      calls.push("valueOf");
      return 7;
    },
    toJSON() {
      calls.push("toJSON");
      return "J";
    },
    [Symbol.toPrimitive]() {
      calls.push("toPrimitive");
      return 9;
    },
    [inspect.custom]() {
      calls.push("inspect.custom");
      return "I";
    },
    plain: 1,
  };
  const fn = Object.assign(() => 1, {
    toString: () => {
      calls.push("fn.toString");
      return "F";
    },
  });
  const messages = [
    logMessage(["%s|%d|%i|%f|%j|%o|%O", hostile, hostile, hostile, hostile, hostile, hostile, hostile]),
    logMessage([hostile, [hostile], { nested: hostile }, new Map([[hostile, hostile]])]),
    logMessage(["%s %d %j", fn, fn, { fn, hostile: [hostile] }]),
    logMessage([fn]),
  ];
  t.deepEqual(calls, [], "nothing of the values ran");
  const [specifiers, extra, withFunction, alone] = messages;
  t.regex(specifiers!, /^\{\s+secret: \[Getter\],.*\}\|NaN\|NaN\|NaN\|\{"plain":1\}\|/s);
  t.regex(extra!, /^\{\s+secret: \[Getter\]/);
  t.is(withFunction, '[Function (anonymous)] { toString: [Function: toString] } NaN {"hostile":[{"plain":1}]}');
  t.is(alone, "[Function (anonymous)] { toString: [Function: toString] }");
});

const Hooks = workflow(
  class Hooks extends Workflow {
    async run() {
      const calls: string[] = [];
      const value = {
        name: "v",
        toString: () => {
          calls.push("toString");
          return "T";
        },
        valueOf: () => {
          calls.push("valueOf");
          return 7;
        },
        toJSON: () => {
          calls.push("toJSON");
          return "J";
        },
      };
      console.log("%s %d %i %f %j %o %O", value, value, value, value, value, value, value);
      console.log(value, [value], { value });
      return calls;
    }
  },
);

test("in a workflow: logging a value with toString, valueOf and toJSON closures runs none of them", (t) => {
  const m = Machine.start(definitionOf(Hooks).compiled.ir, [], 0);
  m.run(0);
  t.deepEqual(m.outcome, { status: "completed", value: [] });
  const [first, second] = m.takeLogs();
  t.regex(first!.message, /^\{\s+name: 'v',\s+toString: \[Function \(anonymous\)\],/);
  t.regex(first!.message, / NaN NaN NaN \{"name":"v"\} /);
  t.regex(second!.message, /^\{\s+name: 'v',/);
});

test("a message is capped in UTF-8 bytes, at a character boundary, and is storable (no NUL, no lone surrogate)", (t) => {
  const long = logMessage(["é".repeat(LOG_MESSAGE_MAX_BYTES)]);
  t.true(long.endsWith("…(truncated)"));
  t.true(Buffer.byteLength(long) <= LOG_MESSAGE_MAX_BYTES);
  t.false(long.includes("\uFFFD"), "no character was cut in two");
  const emoji = logMessage(["x", "😀".repeat(LOG_MESSAGE_MAX_BYTES)]);
  t.true(Buffer.byteLength(emoji) <= LOG_MESSAGE_MAX_BYTES);
  t.true(/^x (😀)+…\(truncated\)$/u.test(emoji));
  t.is(logMessage(["a\0b", "\uD800", "ok \uD83D\uDE00"]), "a\uFFFDb \uFFFD ok 😀");
  t.is(logMessage(["%j", { list: Array.from({ length: 5000 }, (_, i) => i) }]).length <= LOG_MESSAGE_MAX_BYTES, true);
  t.is(logMessage(["fits"]), "fits");
});

const Loud = workflow(
  class Loud extends Workflow {
    async run(n: number) {
      for (let i = 0; i < n; i++) console.log("line", i);
      await sleep(10);
      console.log("after the wait");
      return n;
    }
  },
);

test("at most LOG_RECORDS_PER_RUN records between two waits: the rest are counted in one warning, and the next run logs again", (t) => {
  const m = Machine.start(definitionOf(Loud).compiled.ir, [LOG_RECORDS_PER_RUN + 500], 0);
  m.run(0);
  const first = m.takeLogs();
  t.is(first.length, LOG_RECORDS_PER_RUN + 1);
  t.is(first.at(-2)!.message, `line ${LOG_RECORDS_PER_RUN - 1}`);
  t.like(first.at(-1), { level: "warn", seq: LOG_RECORDS_PER_RUN + 1 });
  t.regex(first.at(-1)!.message, /^500 more log record\(s\) dropped/);
  m.run(10);
  t.deepEqual(
    m.takeLogs().map((r) => [r.seq, r.message]),
    [[LOG_RECORDS_PER_RUN + 2, "after the wait"]],
  );
  t.is(m.outcome?.status, "completed");
});
