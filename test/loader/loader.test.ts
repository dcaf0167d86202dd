import test from "ava";
import { execa } from "execa";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { transformTypeScript } from "../../loader/hooks.js";

const fixtures = fileURLToPath(new URL("../fixtures/loader/", import.meta.url));
const register = fileURLToPath(new URL("../../dist/loader/register.js", import.meta.url));
const index = fileURLToPath(new URL("../../dist/loader/index.js", import.meta.url));

/** `node --import <register.js> <file>`, never rejecting, so failures can be asserted on. */
function runTs(file: string, args: string[] = []) {
  return execa(process.execPath, ["--import", register, file, ...args], { cwd: fixtures, reject: false });
}

test("type annotations, enums and interfaces compile; ./x.js resolves to x.ts", async (t) => {
  const { stdout, stderr, exitCode } = await runTs(join(fixtures, "types.ts"));
  t.is(exitCode, 0, stderr);
  t.true(stdout.includes("area=9 color=0,green label=sq note=erased"), stdout);
});

test("a side-effect import is kept and a type-only import is erased", async (t) => {
  const { stdout, stderr, exitCode } = await runTs(join(fixtures, "types.ts"));
  t.is(exitCode, 0, stderr);
  t.true(stdout.includes("side effect ran"), stdout);
  t.false(stdout.includes("only-types was loaded"), stdout);
});

test("standard decorators: factories run, a returned class replaces the original", async (t) => {
  const { stdout, stderr, exitCode } = await runTs(join(fixtures, "decorators.ts"));
  t.is(exitCode, 0, stderr);
  t.deepEqual(JSON.parse(stdout), {
    seen: ["Plain as x", "call double"],
    result: 4,
    who: "replacement of Original",
    names: ["Plain", "Replacement"],
  });
});

test("extensionless, directory, .cjs -> .cts and .mjs -> .mts specifiers resolve", async (t) => {
  const { stdout, stderr, exitCode } = await runTs(join(fixtures, "resolution.ts"));
  t.is(exitCode, 0, stderr);
  t.deepEqual(JSON.parse(stdout), {
    fromIndex: "lib/index.ts",
    fromFile: "lib/file.ts",
    common: 7,
    fromMts: "module.mts",
  });
});

test("a stack trace points at the .ts file and its original line", async (t) => {
  const file = join(fixtures, "throws.ts");
  const lines = (await readFile(file, "utf8")).split("\n");
  const line = lines.findIndex((l) => l.includes("// THROW LINE")) + 1;
  const column = lines[line - 1]!.indexOf("new Error") + 1;
  const { stdout, stderr, exitCode } = await runTs(file);
  t.is(exitCode, 0, stderr);
  t.true(stdout.startsWith("Error: failed with 1"), stdout);
  t.true(stdout.includes(`at fail (${file}:${line}:${column})`), stdout);
});

test("a syntax error names the file, line and column", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "waymark-loader-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "broken.ts");
  await writeFile(file, "const a: number = 1;\nconsole.log(a);\nconst b = (a +;\n");
  const { stdout, stderr, exitCode } = await runTs(file);
  t.not(exitCode, 0);
  t.is(stdout, "");
  t.true(stderr.includes(`${file}:3:15: Expression expected`), stderr);
  t.true(stderr.includes("ERR_WAYMARK_TYPESCRIPT_SYNTAX"), stderr);
});

test("registerTypeScriptLoader() works without --import and is idempotent", async (t) => {
  const { stdout, stderr, exitCode } = await execa(process.execPath, [join(fixtures, "register-twice.mjs"), index], {
    cwd: fixtures,
    reject: false,
  });
  t.is(exitCode, 0, stderr);
  t.is(stdout, "registered=true area=16");
});

test("transformTypeScript: .tsx parses JSX, .cts becomes CommonJS, .ts stays ESM", (t) => {
  t.regex(transformTypeScript("export const el = <div>{1 as number}</div>;", "/x/view.tsx"), /React\.createElement\("div"/);
  const cjs = transformTypeScript("import { a } from './a.cjs';\nexport const b: number = a;", "/x/mod.cts");
  t.regex(cjs, /require\("\.\/a\.cjs"\)/);
  t.regex(cjs, /exports/);
  const esm = transformTypeScript("import { a } from './a.js';\nexport const b: number = a;", "/x/mod.ts");
  t.regex(esm, /^import \{ a \} from '\.\/a\.js';$/m);
  t.regex(esm, /sourceMappingURL=data:application\/json;base64,/);
});

test("transformTypeScript: the error position comes from the caret, not the excerpt header", (t) => {
  const error = t.throws(() => transformTypeScript("\nlet x = 1;\n\n  let y = = 2;\n", "/x/pos.ts"));
  t.is(error?.name, "SyntaxError");
  t.true(error?.message.startsWith("/x/pos.ts:4:11: "), error?.message);
  t.false(error?.message.includes("Stack backtrace"), error?.message);
});
