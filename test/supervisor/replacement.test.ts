import test from "ava";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { supervise } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);

test("a replacement worker that cannot load its modules (and would not exit) is killed and retried with backoff; the pool recovers", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const notes = notesDir();
  const sup = await supervise({
    databaseUrl: url,
    modules: ["test/fixtures/workflows/flaky-load.ts"],
    env: { TEST_DIR: notes.dir, WAYMARK_WORKER_COUNT: "1", WAYMARK_MAX_ACTION_LIFECYCLE: "2" },
  });
  try {
    const { Pings } = await import("../fixtures/workflows/flaky-load.js");
    t.is(await new Pings().run(0), 3);
    const marker = path.join(notes.dir, "break-load");
    writeFileSync(marker, "");
    // Replacements now fail to load: the workflow waits for a worker...
    const pending = new Pings().run(10);
    await sup.waitFor(/a replacement worker could not load the user modules/);
    // ...until they load again.
    rmSync(marker);
    t.is(await sup.alive(pending), 13);
    t.is(await sup.alive(new Pings().run(20)), 23);
  } finally {
    await close();
    t.is(await sup.stop(), 0);
  }
});
