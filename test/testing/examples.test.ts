import test from "ava";
import { execa } from "execa";
import { readdirSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../helpers/supervise.js";

/**
 * The examples' node:test files (examples/<name>/workflows.test.ts) run as a user runs them:
 * `node --import <the loader> --test`, in a process of their own, against the built package.
 * (Their ava twins, examples/<name>/workflows.ava.ts, are among ava's own files.)
 */
const EXAMPLES = path.join(ROOT, "examples");
const files = readdirSync(EXAMPLES)
  .map((name) => `examples/${name}/workflows.test.ts`)
  .filter((f) => readdirSync(path.join(ROOT, path.dirname(f))).includes("workflows.test.ts"));

test("the examples' node:test suites pass under node --test", async (t) => {
  t.deepEqual(files, ["examples/approval/workflows.test.ts", "examples/welcome/workflows.test.ts"]);
  const r = await execa(process.execPath, ["--import", "./dist/loader/register.js", "--test", "--test-reporter=tap", ...files], { cwd: ROOT, reject: false });
  t.is(r.exitCode, 0, r.stdout);
  t.regex(r.stdout, /^# pass 5$/m);
  t.regex(r.stdout, /^# fail 0$/m);
});
