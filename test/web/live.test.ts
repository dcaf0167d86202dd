import test from "ava";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger } from "../../log/logger.js";
import { poolCreate } from "../../store/db.js";
import { LiveHub, type LiveUpdate } from "../../web/live.js";
import { useTestDatabase } from "../helpers/db.js";
import { until } from "../helpers/wait.js";
import { webStart, type TestWeb } from "./server.js";

const dbUrl = useTestDatabase(test);
let web: TestWeb;

test.before(async () => {
  web = await webStart({ databaseUrl: await dbUrl(), liveIntervalMs: 50 });
  await web.pool.query(`INSERT INTO waymark.workflow_versions (workflow_name, ir_hash, ir) VALUES ('Live', 'l', '{"format":1,"name":"Live","fns":[]}')`);
});

test.after.always(async () => {
  await web?.stop();
});

/** A running instance: its live view streams until it ends or the client leaves. */
async function runningInstance(): Promise<string> {
  const id = randomUUID();
  await web.pool.query(
    `INSERT INTO waymark.instances (id, workflow_name, version_id, status, args, started_at) VALUES ($1, 'Live', 1, 'running', '[]', now())`,
    [id],
  );
  return id;
}

function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Opens the live view's stream; resolves once the first event has arrived. */
function openStream(url: string, id: string): Promise<{ req: http.ClientRequest; res: http.IncomingMessage; first: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/api/instances/${id}/events`, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
        if (/event: update\ndata: .*\n\n/.test(text)) resolve({ req, res, first: text });
      });
    });
    req.on("error", (e) => (req.destroyed ? undefined : reject(e)));
  });
}

test("a client that leaves while its stream is set up is forgotten at once, at either await", async (t) => {
  // A hub of its own, on a real server and a one-connection pool the test can hold, with a view
  // loader the test releases: the client leaves while the hub waits in one await, then the other.
  const pool = poolCreate({ connectionString: await dbUrl(), max: 1 });
  const loading = { started: deferred(), release: deferred() };
  let loads = 0;
  const hub = new LiveHub({
    db: pool,
    log: createLogger({ level: "silent", component: "live" }),
    intervalMs: 20,
    load: async (): Promise<LiveUpdate> => {
      loads++;
      loading.started.resolve();
      await loading.release.promise;
      return { payload: { status: "running" }, finished: false };
    },
  });
  hub.start();
  const handled: Array<{ subscribed: Promise<void>; closed: Promise<void> }> = [];
  const server = http.createServer((req, res) => {
    const closed = deferred();
    res.once("close", () => closed.resolve());
    handled.push({ subscribed: hub.subscribe(req.url!.slice(1), res), closed: closed.promise });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(async () => {
    await hub.stop();
    await new Promise((r) => server.close(r));
    await pool.end();
  });
  const port = (server.address() as AddressInfo).port;
  const id = await runningInstance();
  const connect = () => {
    const req = http.get({ host: "127.0.0.1", port, path: `/${id}` });
    req.on("error", () => undefined);
    return req;
  };

  // 1. While the hub reads the instance's mark (the pool's one connection is held by the test).
  const held = await pool.connect();
  const first = connect();
  await until("the subscription to wait for a connection", () => pool.waitingCount === 1);
  t.is(hub.clients, 1);
  first.destroy();
  await handled[0]!.closed;
  t.is(hub.clients, 0, "forgotten as soon as it left");
  held.release();
  await handled[0]!.subscribed;
  t.is(hub.clients, 0);
  t.is(hub.watching, 0, "nothing polls for it");
  t.is(loads, 0, "its view is not even loaded");

  // 2. While the hub loads the first view.
  const second = connect();
  await loading.started.promise;
  t.is(hub.clients, 1);
  second.destroy();
  await handled[1]!.closed;
  t.is(hub.clients, 0);
  loading.release.resolve();
  await handled[1]!.subscribed;
  t.is(hub.clients, 0);
  t.is(hub.watching, 0, "nothing polls for it");

  // 3. A client that stays is watched, and forgotten when it leaves.
  const third = connect();
  await until("the third request", () => handled.length === 3);
  await handled[2]!.subscribed;
  t.is(hub.clients, 1);
  t.is(hub.watching, 1);
  third.destroy();
  await handled[2]!.closed;
  t.is(hub.clients, 0);
  t.is(hub.watching, 0);
});

test("the web app's live view: a stream that ends is forgotten, and one that leaves during set-up is never kept", async (t) => {
  const id = await runningInstance();
  const { req, first } = await openStream(web.url, id);
  t.regex(first, /"status":"running"/);
  t.is(web.server.liveClients, 1);
  req.destroy();
  await until("the stream to be forgotten", () => web.server.liveClients === 0);

  // Leaving while the server waits for a database connection (the test holds them all).
  const held = await Promise.all(Array.from({ length: 4 }, () => web.pool.connect()));
  const leaving = http.get(`${web.url}/api/instances/${id}/events`);
  leaving.on("error", () => undefined);
  await until("the subscription to wait for a connection", () => web.pool.waitingCount === 1);
  t.is(web.server.liveClients, 1);
  leaving.destroy();
  await until("the server to hear the client leave", () => web.server.liveClients === 0);
  for (const c of held) c.release();
  await until("the subscription's query to end", () => web.pool.waitingCount === 0 && web.pool.idleCount === web.pool.totalCount);
  t.is(web.server.liveClients, 0);

  // The instance ends: a stream still open gets the last update and is closed by the server.
  const { res: last } = await openStream(web.url, id);
  const ended = new Promise<void>((r) => last.on("end", () => r()));
  await web.pool.query(`UPDATE waymark.instances SET status = 'completed', result = '1', finished_at = now(), updated_at = now() WHERE id = $1`, [id]);
  await ended;
  await until("the finished stream to be forgotten", () => web.server.liveClients === 0);
});
