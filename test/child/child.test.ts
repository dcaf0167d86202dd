import { fileURLToPath } from "node:url";
import test from "ava";
import { execa } from "execa";

const ENTRY = fileURLToPath(new URL("../../dist/child/main.js", import.meta.url));

test("the child entry refuses to run outside a fork from waymark supervise", async (t) => {
  const r = await execa(process.execPath, [ENTRY], { reject: false });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /runs actions for `waymark supervise`.*cannot run on its own/);
});
