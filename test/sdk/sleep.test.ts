import test from "ava";
import { execa } from "execa";
import { fileURLToPath } from "node:url";

const SLEEP = fileURLToPath(new URL("../../dist/sdk/sleep.js", import.meta.url));

/**
 * `sleep` run as plain code (outside a workflow) waits as asked, even past what one Node timer
 * holds. (In a process of its own: the long sleep would keep this one alive.)
 */
test("a sleep longer than 2^31-1 ms does not end after 1 ms, as a plain timer of that length would", async (t) => {
  const script = `
    const { sleep } = await import(${JSON.stringify(SLEEP)});
    const delay = (ms) => new Promise((r) => setTimeout(r, ms));
    const long = await Promise.race([sleep(3_000_000_000).then(() => "sleep"), delay(100).then(() => "timer")]);
    const short = await Promise.race([sleep(5).then(() => "sleep"), delay(1_000).then(() => "timer")]);
    console.log(JSON.stringify([long, short]));
    process.exit(0);`;
  const { stdout, stderr } = await execa(process.execPath, ["--input-type=module", "-e", script]);
  t.deepEqual(JSON.parse(stdout), ["timer", "sleep"], stderr);
});
