import { action } from "waymark";

/** Actions shared by the corpus workflows. They are pure functions of their arguments. */

export const double = action("corpus.double", async function double(n: number): Promise<number> {
  return n * 2;
});

export const add = action("corpus.add", async function add(a: number, b: number): Promise<number> {
  return a + b;
});

export const echo = action("corpus.echo", async function echo<T>(value: T): Promise<T> {
  return value;
});

export const greet = action("corpus.greet", async function greet(name: string): Promise<string> {
  return `hello ${name}`;
});

export const isEven = action("corpus.isEven", async function isEven(n: number): Promise<boolean> {
  return n % 2 === 0;
});

export const fetchUser = action("corpus.fetchUser", async function fetchUser(id: string): Promise<{ id: string; name: string; active: boolean; age: number }> {
  const n = Number(id.replace(/\D/g, "")) || 0;
  return { id, name: `user-${id}`, active: n % 2 === 1, age: 20 + n };
});

export class NetworkError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "NetworkError";
  }
}

/** Throws an error of the given kind: a built-in class name, or any other name with extra fields. */
export const fail = action("corpus.fail", async function fail(kind: string, message: string): Promise<never> {
  if (kind === "TypeError") throw new TypeError(message);
  if (kind === "RangeError") throw new RangeError(message);
  if (kind === "NetworkError") throw new NetworkError(message, 503);
  if (kind === "Error") throw new Error(message);
  const e = new Error(message) as Error & { code?: string };
  e.name = kind;
  e.code = `E_${kind.toUpperCase()}`;
  throw e;
});

/** Fails for odd numbers, doubles even ones. */
export const evenOnly = action("corpus.evenOnly", async function evenOnly(n: number): Promise<number> {
  if (n % 2 !== 0) throw new RangeError(`odd: ${n}`);
  return n * 2;
});

export const sum = action("corpus.sum", async function sum(values: number[]): Promise<number> {
  return values.reduce((a, b) => a + b, 0);
});

export const wait = action("corpus.wait", async function wait(ms: number, value: string): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return value;
});
