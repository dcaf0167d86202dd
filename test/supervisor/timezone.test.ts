import test from "ava";
import { close } from "waymark";
import { useTestDatabase } from "../helpers/db.js";
import { supervise } from "../helpers/supervise.js";

const dbUrl = useTestDatabase(test);

test("workflow code reads dates in UTC on every supervisor; actions keep the host's time zone", async (t) => {
  const url = await dbUrl();
  process.env.WAYMARK_DATABASE_URL = url;
  const sup = await supervise({ databaseUrl: url, modules: ["test/fixtures/workflows/pool.ts"], env: { TZ: "America/New_York" } });
  try {
    const { Hours } = await import("../fixtures/workflows/pool.js");
    // Midnight UTC on 1970-01-01 is 19:00 the day before in New York.
    t.deepEqual(await sup.alive(new Hours().run(0)), { inWorkflow: 0, inAction: 19 });
  } finally {
    await close();
    t.is(await sup.stop(), 0);
  }
});
