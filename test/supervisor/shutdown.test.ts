import { readFileSync } from "node:fs";
import test from "ava";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { query } from "../helpers/status.js";
import { supervise } from "../helpers/supervise.js";
import { until } from "../helpers/wait.js";

const dbUrl = useTestDatabase(test);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A supervisor with the pool fixtures, writing notes to a directory of its own; the SDK points at its database. */
async function superviseWithNotes(graceMs: number) {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const notes = notesDir();
  const sup = await supervise({
    databaseUrl: url,
    modules: ["test/fixtures/workflows/pool.ts"],
    env: { TEST_DIR: notes.dir, WAYMARK_SHUTDOWN_GRACE_MS: String(graceMs) },
  });
  return { url, notes, sup };
}

function untilNote(notes: ReturnType<typeof notesDir>, file: string, pattern: RegExp): Promise<string> {
  return until(`${pattern} in ${file}`, () => notes.lines(file).find((l) => pattern.test(l)));
}

test.serial(
  "SIGTERM lets in-flight actions finish, writes their results, releases the instance and exits 0; another supervisor finishes it without re-running the action",
  async (t) => {
    const { url, notes, sup } = await superviseWithNotes(10000);
    const { SlowThenFast } = await import("../fixtures/workflows/pool.js");
    const handle = await new SlowThenFast().start(["drain", 1500]);
    await untilNote(notes, "slow.txt", /^start drain/);
    t.is(await sup.stop("SIGTERM"), 0);
    t.deepEqual(
      notes.lines("slow.txt").map((l) => l.split(" ").slice(0, 2).join(" ")),
      ["start drain", "end drain"],
    );
    const [row] = await query(url, "SELECT status, lease_owner FROM waymark.instances WHERE id = $1", [handle.instanceId]);
    t.is(row.lease_owner, null);
    t.true(["queued", "sleeping"].includes(row.status), row.status);
    const next = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env: { TEST_DIR: notes.dir } });
    try {
      t.is(await handle.result(), "drain done then 2");
      t.is(notes.lines("slow.txt").filter((l) => l.startsWith("start drain")).length, 1);
      // The next call, computed but never sent before the shutdown, is simply sent: no lost attempt.
      const attempts = await query(
        url,
        "SELECT action_name, attempt, status FROM waymark.action_attempts WHERE instance_id = $1 ORDER BY action_seq, attempt",
        [handle.instanceId],
      );
      t.deepEqual(attempts, [
        { action_name: "slow", attempt: 1, status: "completed" },
        { action_name: "step", attempt: 1, status: "completed" },
      ]);
    } finally {
      await close();
      await next.stop();
    }
  },
);

test.serial("a second signal exits at once, and no child process is left behind", async (t) => {
  const { notes, sup } = await superviseWithNotes(60_000);
  const { SlowThenFast } = await import("../fixtures/workflows/pool.js");
  await new SlowThenFast().start(["hard", 30_000]);
  const line = await untilNote(notes, "slow.txt", /^start hard/);
  const childPid = Number(line.split(" ")[2]);
  process.kill(sup.pid, "SIGTERM");
  await sup.waitFor(/shutting down gracefully/);
  process.kill(sup.pid, "SIGTERM");
  const { exitCode } = await sup.exited;
  t.is(exitCode, 130);
  t.regex(sup.output(), /second signal: exiting now/);
  // The child learns its parent is gone through the IPC channel and exits.
  for (let i = 0; i < 100 && alive(childPid); i++) await new Promise((r) => setTimeout(r, 50));
  t.false(alive(childPid), `child ${childPid} outlived its supervisor`);
  await close();
});

test.serial("group commit: with a 60 s persist interval, a sequential workflow still steps as fast as the writer allows", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const sup = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env: { WAYMARK_PERSIST_INTERVAL_MS: "60000" } });
  try {
    const { FiveSteps } = await import("../fixtures/workflows/pool.js");
    // Five dependent steps: each waits for a durable write. Were any write to wait out the
    // interval, this would take minutes; the bound only catches that.
    const result = await Promise.race([
      new FiveSteps().run(0, 0),
      new Promise((_, reject) => setTimeout(() => reject(new Error("a step waited for the persist interval")), 30_000)),
    ]);
    t.is(result, 5);
  } finally {
    await close();
    await sup.stop();
  }
});

test.serial(
  "past the grace period, running actions get their abort signal (their clean-ups run) and count as lost, not failed: the next supervisor runs them again",
  async (t) => {
    const { url, notes, sup } = await superviseWithNotes(300);
    const { Abortable } = await import("../fixtures/workflows/pool.js");
    const handle = await new Abortable().start(["grace"]);
    await untilNote(notes, "abortable.txt", /^start grace 1/);
    t.is(await sup.stop("SIGTERM"), 0);
    t.deepEqual(notes.lines("abortable.txt"), ["start grace 1", "aborted grace 1", "cleanup grace 1"]);
    const [row] = await query(url, "SELECT status FROM waymark.instances WHERE id = $1", [handle.instanceId]);
    t.is(row.status, "queued");
    const next = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env: { TEST_DIR: notes.dir } });
    try {
      t.is(await handle.result(), "grace finished on attempt 2");
    } finally {
      await close();
      await next.stop();
    }
  },
);
