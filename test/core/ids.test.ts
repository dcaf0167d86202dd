import test from "ava";
import { uuidv7 } from "../../core/ids.js";

const SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("ids are UUIDv7 that carry the time they were made and increase strictly in the order made, thousands to a millisecond", (t) => {
  const before = Date.now();
  const ids = Array.from({ length: 20_000 }, () => uuidv7());
  const after = Date.now();
  t.true(ids.every((id) => SHAPE.test(id)));
  for (let i = 1; i < ids.length; i++) if (!(ids[i]! > ids[i - 1]!)) t.fail(`id ${i} (${ids[i]}) does not follow ${ids[i - 1]}`);
  t.is(new Set(ids).size, ids.length);
  const ms = (id: string) => Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16);
  t.true(ms(ids[0]!) >= before);
  // More than ~2048 in a millisecond borrow the next ones: never more than that many ahead.
  t.true(ms(ids.at(-1)!) <= after + Math.ceil(ids.length / 2048), `${ms(ids.at(-1)!) - after} ms ahead`);
});
