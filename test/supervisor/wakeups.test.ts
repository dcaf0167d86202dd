import test from "ava";
import { Wakeups } from "../../supervisor/wakeups.js";

/** Resolves at the next wake, with the time it came. */
function nextWake(waiters: Array<(at: number) => void>): Promise<number> {
  return new Promise((resolve) => waiters.push(resolve));
}

test("wakes the poller at each moment, earliest first and never before it; a moment already past wakes it at once", async (t) => {
  // Its timer does not keep a process alive (a supervisor's connections do): this test does.
  const alive = setInterval(() => undefined, 1000);
  const waiters: Array<(at: number) => void> = [];
  const w = new Wakeups(() => waiters.shift()?.(Date.now()));
  const now = Date.now();
  const first = nextWake(waiters);
  const second = nextWake(waiters);
  w.add(now + 120);
  w.add(now + 40);
  t.true((await first) >= now + 40);
  t.true((await second) >= now + 120);
  t.is(w.size, 0);
  const past = nextWake(waiters);
  w.add(Date.now() - 1000);
  t.true((await past) > 0);
  w.stop();
  clearInterval(alive);
});

test("keeps only the 64 earliest moments, once each, and nothing after it stops", (t) => {
  const w = new Wakeups(() => undefined);
  const base = Date.now() + 3_600_000;
  for (let i = 100; i > 0; i--) w.add(base + i);
  w.add(base + 1);
  w.add(Number.NaN);
  t.is(w.size, 64);
  // A later moment than all 64 is not kept; an earlier one pushes the latest out.
  w.add(base + 500);
  t.is(w.size, 64);
  w.stop();
  w.add(base);
  t.is(w.size, 0);
});
