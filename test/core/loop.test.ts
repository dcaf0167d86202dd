/**
 * core/loop.ts, the shape of every background loop: wakes coalesce, failures back off, stop()
 * waits for the pass in progress, and passed() lets a caller await a pass instead of sleeping.
 */
import test from "ava";
import { Loop } from "../../core/loop.js";

/** A promise with its resolver outside, to hold a pass open. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

test("wakes during a pass coalesce into one more pass right after it", async (t) => {
  let passes = 0;
  let hold = gate();
  const loop = new Loop({
    pass: async () => {
      passes++;
      await hold.promise;
    },
  });
  loop.start();
  t.is(passes, 1);
  for (let i = 0; i < 5; i++) loop.wake();
  const next = loop.passed();
  const first = hold;
  hold = gate();
  first.open();
  hold.open();
  await next;
  t.is(passes, 2);
  await loop.stop();
});

test("without an interval it runs only when woken; with one, again after it", async (t) => {
  let passes = 0;
  const woken = new Loop({ pass: async () => void passes++ });
  const first = woken.passed();
  woken.start();
  await first;
  t.is(passes, 1);
  const second = woken.passed();
  woken.wake();
  await second;
  t.is(passes, 2);
  await woken.stop();

  let ticks = 0;
  const ticking = new Loop({ pass: async () => void ticks++, intervalMs: 5 });
  ticking.start();
  for (let i = 0; i < 3; i++) await ticking.passed();
  t.true(ticks >= 4);
  await ticking.stop();
});

test("a pass may say when the next one is due", async (t) => {
  const at: number[] = [];
  const loop = new Loop({
    pass: async () => {
      at.push(Date.now());
      return 30;
    },
    intervalMs: 60_000,
  });
  loop.start();
  await loop.passed();
  await loop.stop();
  t.is(at.length, 2);
  t.true(at[1]! - at[0]! >= 25 && at[1]! - at[0]! < 10_000);
});

test("a failing pass is retried after a doubling backoff, capped, and told to onError; a success resets it", async (t) => {
  const retries: Array<[number, number]> = [];
  let fail = 4;
  const loop = new Loop({
    pass: async () => {
      if (fail-- > 0) throw new Error("down");
    },
    backoffMs: 2,
    maxBackoffMs: 6,
    onError: (e, retryInMs, failures) => {
      t.is((e as Error).message, "down");
      retries.push([retryInMs, failures]);
    },
  });
  loop.start();
  for (let i = 0; i < 4; i++) await loop.passed();
  t.deepEqual(retries, [
    [2, 1],
    [4, 2],
    [6, 3],
    [6, 4],
  ]);
  // A success reset the backoff: the next failure waits the first delay again.
  fail = 1;
  const next = loop.passed();
  loop.wake();
  await next;
  t.deepEqual(retries.at(-1), [2, 1]);
  await loop.stop();
});

test("stop() waits for the pass in progress, is safe before start and twice, and releases waiters", async (t) => {
  const idle = new Loop({ pass: async () => undefined });
  await idle.stop();
  await idle.stop();
  t.false(idle.active);

  const hold = gate();
  let finished = false;
  const loop = new Loop({
    pass: async () => {
      await hold.promise;
      finished = true;
    },
  });
  loop.start();
  const waiter = loop.passed(); // a pass after this one: never runs, released by stop()
  const stopping = loop.stop();
  t.false(finished);
  hold.open();
  await stopping;
  t.true(finished);
  await waiter;
  await loop.passed(); // stopped: at once
  t.false(loop.active);
});

test("wakeIn keeps the earliest of two wake-up times", async (t) => {
  let passes = 0;
  const loop = new Loop({ pass: async () => void passes++ });
  const first = loop.passed();
  loop.start();
  await first;
  const started = Date.now();
  const next = loop.passed();
  loop.wakeIn(10);
  loop.wakeIn(60_000);
  await next;
  t.is(passes, 2);
  t.true(Date.now() - started < 30_000);
  await loop.stop();
});
