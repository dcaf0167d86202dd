/**
 * The ids waymark makes for new instances (started by the SDK, fired by the scheduler, requeued
 * from the web app): UUIDv7, time-ordered, so new rows land at the right edge of the primary key
 * index. Within a process they are strictly increasing (RFC 9562, method 1: the 12 bits after
 * the millisecond are a counter, started at a random value below 2048 each new millisecond), so
 * instances started in one order, at one priority and due together, are claimed in that order.
 * More than ~2048 ids in one millisecond borrow the next millisecond; a clock that steps back
 * keeps the last one until it catches up.
 */
import { randomFillSync } from "node:crypto";

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/** Random bytes drawn 4 KiB at a time (one call to the system's generator per 512 ids). */
const pool = Buffer.alloc(4096);
let used = pool.length;
let lastMs = 0;
let counter = 0;

function random(n: number): number {
  if (used + n > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += n;
  return used - n;
}

export function uuidv7(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    const r = random(2);
    counter = ((pool[r]! << 8) | pool[r + 1]!) & 0x7ff;
    lastMs = ms;
  } else if (++counter > 0xfff) {
    lastMs++;
    const r = random(2);
    counter = ((pool[r]! << 8) | pool[r + 1]!) & 0x7ff;
  }
  ms = lastMs;
  const r = random(8);
  const hi = Math.floor(ms / 0x10000); // the top 32 of the 48 bits
  const lo = ms % 0x10000;
  return (
    HEX[(hi >>> 24) & 0xff]! +
    HEX[(hi >>> 16) & 0xff]! +
    HEX[(hi >>> 8) & 0xff]! +
    HEX[hi & 0xff]! +
    "-" +
    HEX[lo >>> 8]! +
    HEX[lo & 0xff]! +
    "-" +
    HEX[0x70 | (counter >>> 8)]! +
    HEX[counter & 0xff]! +
    "-" +
    HEX[0x80 | (pool[r]! & 0x3f)]! +
    HEX[pool[r + 1]!]! +
    "-" +
    HEX[pool[r + 2]!]! +
    HEX[pool[r + 3]!]! +
    HEX[pool[r + 4]!]! +
    HEX[pool[r + 5]!]! +
    HEX[pool[r + 6]!]! +
    HEX[pool[r + 7]!]!
  );
}
