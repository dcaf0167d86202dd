import { action } from "waymark";
import { roundTrip } from "../../core/codec.js";

/**
 * The fuzzer's actions: deterministic, and copying what they take and give through the codec, as
 * a trip through Postgres does, so a program run natively (actions as plain functions) sees the
 * same values as through the engine.
 */
export const echo = action(async function fuzzEcho<T>(value: T): Promise<T> {
  return roundTrip(value);
});

export const add = action(async function fuzzAdd(a: unknown, b: unknown): Promise<unknown> {
  return roundTrip((a as number) + (b as number));
});

/** Throws, by kind: Error, TypeError, RangeError, an error with a custom name and a field, a string. */
export const fail = action(async function fuzzFail(kind: number, message: string): Promise<never> {
  switch (kind % 5) {
    case 0:
      throw new Error(message);
    case 1:
      throw new TypeError(message);
    case 2:
      throw new RangeError(message);
    case 3:
      throw Object.assign(new Error(message), { name: "QuotaError", limit: 10 });
    default:
      throw `thrown ${message}`;
  }
});
