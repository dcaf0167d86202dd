import test from "ava";
import { versionLatest, versionUpsert } from "../../store/versions.js";
import { storeSetup } from "../helpers/store.js";

test("the latest version: a new body, or one registered with latest; an old app starting an instance changes nothing", async (t) => {
  const { pool, versionId: v1 } = await storeSetup(t);
  const ir = { format: 2, name: "W", fns: [] } as never;
  const v2 = await versionUpsert(pool, { name: "W", hash: "h2", ir });
  t.is((await versionLatest(pool, { name: "W" }))?.id, v2, "a body never seen before is the latest");
  // An old replica, still running during a rolling deploy, starts an instance of v1.
  t.is(await versionUpsert(pool, { name: "W", hash: "h1", ir }), v1);
  t.is((await versionLatest(pool, { name: "W" }))?.id, v2);
  // The old code deployed again: its supervisors register v1 as the latest.
  t.is(await versionUpsert(pool, { name: "W", hash: "h1", ir, latest: true }), v1);
  t.is((await versionLatest(pool, { name: "W" }))?.id, v1);
});
