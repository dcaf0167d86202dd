import test from "ava";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isWaymarkError, UnsupportedPatternError } from "waymark";

/**
 * Constructs outside the workflow language fail at decoration time, so importing the module
 * fails: with the rule, the file, the line and column of the offending code, a message that
 * quotes it, and a hint.
 */
interface Rejection {
  fixture: string;
  rule: string;
  line: number;
  column: number;
  /** The code the message quotes (it starts at line:column). */
  code: string;
}

const REJECTIONS: Rejection[] = [
  { fixture: "date-now.ts", rule: "nondeterministic", line: 6, column: 21, code: "Date.now()" },
  { fixture: "date-alias.ts", rule: "nondeterministic", line: 6, column: 19, code: "Date" },
  { fixture: "new-date.ts", rule: "nondeterministic", line: 7, column: 17, code: "new Date()" },
  { fixture: "math-random.ts", rule: "nondeterministic", line: 6, column: 29, code: "Math.random()" },
  { fixture: "crypto.ts", rule: "nondeterministic", line: 6, column: 16, code: "crypto.randomUUID()" },
  { fixture: "performance.ts", rule: "nondeterministic", line: 7, column: 21, code: "performance.now()" },
  { fixture: "process-env.ts", rule: "process-access", line: 6, column: 20, code: "process.env" },
  { fixture: "fetch.ts", rule: "io", line: 6, column: 23, code: "fetch(url)" },
  { fixture: "console.ts", rule: "console", line: 6, column: 5, code: "console.table(rows)" },
  { fixture: "log-level.ts", rule: "log", line: 7, column: 5, code: 'log.trace("at", n)' },
  { fixture: "log-value.ts", rule: "log", line: 6, column: 19, code: "log" },
  { fixture: "set-timeout.ts", rule: "timer", line: 8, column: 5, code: "setTimeout(() => value, 1000)" },
  { fixture: "await-non-action.ts", rule: "await-non-action", line: 10, column: 21, code: "await loadProfile(id)" },
  { fixture: "await-value.ts", rule: "await-non-action", line: 6, column: 21, code: "await (n * 2)" },
  { fixture: "call-non-action.ts", rule: "unknown-callee", line: 10, column: 12, code: "slugify(title)" },
  { fixture: "dynamic-import.ts", rule: "dynamic-import", line: 6, column: 22, code: 'import("node:fs")' },
  { fixture: "class-declaration.ts", rule: "class", line: 6, column: 5, code: "class Counter {" },
  { fixture: "new-user-class.ts", rule: "class", line: 10, column: 15, code: "new Money(cents)" },
  { fixture: "nested-function.ts", rule: "nested-function", line: 6, column: 5, code: "function square(x: number) {" },
  { fixture: "generator.ts", rule: "generator", line: 11, column: 3, code: "*numbers() {" },
  { fixture: "eval.ts", rule: "eval", line: 6, column: 12, code: "eval(code)" },
  { fixture: "recursion.ts", rule: "recursion", line: 14, column: 30, code: "this.even(n - 1)" },
  { fixture: "unknown-identifier.ts", rule: "unknown-identifier", line: 8, column: 20, code: "someGlobalCounter" },
  { fixture: "module-variable.ts", rule: "unknown-identifier", line: 8, column: 23, code: "startedAt" },
  { fixture: "this-field.ts", rule: "this-access", line: 8, column: 12, code: "this.count" },
  { fixture: "super-call.ts", rule: "super", line: 16, column: 23, code: "super.label" },
  { fixture: "foreach-async.ts", rule: "async-callback", line: 7, column: 17, code: "async (id) => {" },
  { fixture: "for-await.ts", rule: "for-await", line: 8, column: 5, code: "for await (const v of ids.map((id) => lookup(id))) out.push(v);" },
  { fixture: "promise-race.ts", rule: "promise-method", line: 7, column: 18, code: 'Promise.race([lookup("a"), lookup("b")])' },
  { fixture: "promise-then.ts", rule: "promise-chain", line: 7, column: 18, code: 'lookup("a").then((v) => v.toUpperCase())' },
  { fixture: "await-after-optional.ts", rule: "unsupported-syntax", line: 7, column: 12, code: 'user?.rename?.(await lookup("name"))' },
  // Built-ins named in other ways than `Math.max(...)`: a literal key is the dotted name, destructuring names each member.
  { fixture: "math-computed-random.ts", rule: "nondeterministic", line: 6, column: 29, code: 'Math["random"]()' },
  { fixture: "date-computed-now.ts", rule: "nondeterministic", line: 6, column: 23, code: 'Date["now"]()' },
  { fixture: "date-now-destructured.ts", rule: "nondeterministic", line: 6, column: 13, code: "now" },
  { fixture: "object-computed-member.ts", rule: "unsupported-syntax", line: 6, column: 12, code: 'Object["getPrototypeOf"](value)' },
  { fixture: "math-computed-key.ts", rule: "unsupported-syntax", line: 6, column: 12, code: "Math[op](a, b)" },
  { fixture: "math-value.ts", rule: "unsupported-syntax", line: 6, column: 15, code: "Math" },
  { fixture: "builtin-assignment.ts", rule: "unsupported-syntax", line: 6, column: 5, code: "Number.isInteger" },
  { fixture: "constructor-destructured.ts", rule: "unsupported-syntax", line: 6, column: 13, code: "constructor" },
  // Events and children: handles are the app's; a child is started in one expression.
  { fixture: "get-instance.ts", rule: "handle", line: 6, column: 18, code: "getInstance(id)" },
  { fixture: "child-alone.ts", rule: "child-workflow", line: 13, column: 19, code: "new LonelyChild()" },
  { fixture: "child-method.ts", rule: "child-workflow", line: 13, column: 18, code: "new OtherChild().runAction(Promise.resolve(1))" },
  { fixture: "wait-shape.ts", rule: "event", line: 7, column: 18, code: 'waitForEvent("a", { timeoutMs: 1 }, "extra")' },
];

for (const r of REJECTIONS) {
  test(`${r.fixture}: rejected as ${r.rule} at ${r.line}:${r.column}`, async (t) => {
    const url = new URL(`./fixtures/${r.fixture}`, import.meta.url);
    const file = fileURLToPath(url);
    const e = await t.throwsAsync(import(url.href), { instanceOf: UnsupportedPatternError });
    if (!e) return;
    const err = e as UnsupportedPatternError;
    t.is(err.name, "UnsupportedPatternError");
    t.is(err.code, "WAYMARK_UNSUPPORTED_PATTERN");
    t.true(isWaymarkError(err));
    t.is(err.rule, r.rule);
    t.is(err.file, file);
    t.is(err.line, r.line);
    t.is(err.column, r.column);
    t.true(err.message.includes(`\`${r.code}\``), err.message);
    t.true(err.message.includes(`${file}:${r.line}:${r.column}`), err.message);
    t.true(err.hint.length > 0);
    t.true(err.message.includes(`Hint: ${err.hint}`), err.message);
    // The location really is where the quoted code starts.
    const sourceLine = readFileSync(file, "utf8").split("\n")[r.line - 1]!;
    t.is(sourceLine.slice(r.column - 1, r.column - 1 + r.code.length), r.code);
    // A code frame: the offending line marked with ">", and a caret under its column.
    const frame = err.message.split("\n");
    const at = frame.findIndex((l) => new RegExp(`^> +${r.line} \\| `).test(l));
    t.true(at >= 0, err.message);
    t.is(frame[at]!.slice(frame[at]!.indexOf("| ") + 2), sourceLine);
    t.is(frame[at + 1]!.indexOf("^") - frame[at + 1]!.indexOf("| ") - 2, r.column - 1, err.message);
  });
}

test("Math held as a value: the hint says to call its members by name", async (t) => {
  const e = await t.throwsAsync(import(new URL("./fixtures/math-value.ts", import.meta.url).href), { instanceOf: UnsupportedPatternError });
  t.regex((e as UnsupportedPatternError).message, /`Math` as a value/);
  t.regex((e as UnsupportedPatternError).hint, /Math\.max\(a, b\)/);
});

test("console members other than log, info, warn, error and debug are refused with the ones a workflow may call", async (t) => {
  const e = await t.throwsAsync(import(new URL("./fixtures/console.ts", import.meta.url).href), { instanceOf: UnsupportedPatternError });
  const err = e as UnsupportedPatternError;
  t.regex(err.message, /`console\.table`/);
  for (const m of ["log", "info", "warn", "error", "debug"]) t.true(err.message.includes(`\`console.${m}\``), err.message);
  t.regex(err.hint, /supervisor's log/);
});

test("`log` of waymark is called by its level: another member, or `log` as a value, is refused saying so", async (t) => {
  const level = await t.throwsAsync(import(new URL("./fixtures/log-level.ts", import.meta.url).href), { instanceOf: UnsupportedPatternError });
  t.regex((level as UnsupportedPatternError).message, /`log\.trace`/);
  t.regex((level as UnsupportedPatternError).message, /`log\.info\(\.\.\.\)`/);
  const value = await t.throwsAsync(import(new URL("./fixtures/log-value.ts", import.meta.url).href), { instanceOf: UnsupportedPatternError });
  t.regex((value as UnsupportedPatternError).message, /`log` as a value/);
});

test("`with` cannot reach the compiler: class bodies are strict mode, so loading fails first", async (t) => {
  const url = new URL("./fixtures/with-statement.cjs", import.meta.url);
  await t.throwsAsync(import(url.href), { instanceOf: SyntaxError, message: /with statement/ });
});
