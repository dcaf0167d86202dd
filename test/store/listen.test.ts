/**
 * store/listen.ts, the one LISTEN connection, against a server of the test's own that it stops
 * and restarts: notifications arrive, a lost connection comes back, and close() ends it even
 * while it is reconnecting (a process that closed it must be able to exit).
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import test from "ava";
import { execa } from "execa";
import pg from "pg";
import { ROOT } from "../helpers/supervise.js";
import { ownServer } from "../helpers/server.js";

/** A process that listens, and says what happens on stdout, one word per line. */
function listenerProcess(url: string) {
  const listen = pathToFileURL(path.join(ROOT, "dist/store/listen.js")).href;
  const proc = execa(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const { Listener } = await import(${JSON.stringify(listen)});
       const say = (w) => process.stdout.write(w + "\\n");
       const l = new Listener({
         connectionString: ${JSON.stringify(url)},
         applicationName: "waymark-listen-test",
         channels: ["waymark_test"],
         onNotification: (_c, payload) => say("note:" + payload),
         onReconnected: () => say("reconnected"),
         log: { warn: (m) => { if (/reconnecting/.test(m)) { say("reconnecting"); } }, info: () => {}, error: () => {}, debug: () => {} },
       });
       await l.connect();
       say("connected");
       process.stdin.on("data", async (d) => { if (String(d).includes("close")) { await l.close(); say("closed"); } });
       process.stdin.unref();`,
    ],
    // Killed if it has not exited 20 s after it started: something kept it alive.
    { reject: false, stdin: "pipe", timeout: 20_000 },
  );
  let out = "";
  const waiters: Array<() => void> = [];
  proc.stdout!.on("data", (c: Buffer) => {
    out += c.toString();
    for (const w of waiters.splice(0)) w();
  });
  const said = (word: string) =>
    new Promise<void>((resolve) => {
      const check = () => (out.split("\n").includes(word) ? resolve() : waiters.push(check));
      check();
    });
  return { proc, said, output: () => out };
}

test("close() while the connection is being re-established ends it: the process exits with the server back", async (t) => {
  const server = await ownServer("waymark-listen-");
  t.teardown(() => server.remove());
  const l = listenerProcess(server.url);
  t.teardown(() => void l.proc.kill("SIGKILL"));
  await l.said("connected");
  const notify = async (payload: string) => {
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    await c.query("SELECT pg_notify('waymark_test', $1)", [payload]);
    await c.end();
  };
  await notify("one");
  await l.said("note:one");
  await server.stop();
  await l.said("reconnecting");
  l.proc.stdin!.write("close\n");
  await l.said("closed");
  // The server comes back while the reconnect loop may still be retrying: whatever it opens is
  // closed, and nothing keeps the process alive.
  await server.restart();
  const exit = await l.proc;
  t.is(exit.exitCode, 0, l.output());
  t.false(l.output().includes("reconnected"), l.output());
});
