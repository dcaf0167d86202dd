import test from "ava";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { notesDir } from "../helpers/files.js";
import { supervise } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);
const notes = notesDir();

test("slow actions are not queued behind one another in a busy child while another child is free", async (t) => {
  process.env.WAYMARK_DATABASE_URL = await dbUrl();
  const sup = await supervise({
    databaseUrl: await dbUrl(),
    modules: ["test/fixtures/workflows/pool.ts"],
    env: { TEST_DIR: notes.dir, WAYMARK_WORKER_COUNT: "2", WAYMARK_CONCURRENT_PER_WORKER: "1" },
  });
  try {
    const { OneSlowSixFast } = await import("../fixtures/workflows/pool.js");
    t.is(await new OneSlowSixFast().run("mix"), 7);
    const starts = notes
      .lines("slow.txt")
      .filter((l) => l.startsWith("start mix"))
      .map((l) => l.split(" "));
    const slowPid = starts.find(([, key]) => key === "mix-slow")![2];
    const fastOnSlowChild = starts.filter(([, key, pid]) => key !== "mix-slow" && pid === slowPid).length;
    // The busy child holds at most one task beyond its slot; the free child runs the rest.
    t.true(fastOnSlowChild <= 1, `${fastOnSlowChild} of the six fast actions waited for the slow one's child`);
  } finally {
    await close();
    t.is(await sup.stop(), 0);
  }
});
