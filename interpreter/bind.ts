/**
 * Destructuring and iteration, with V8's TypeErrors: the texts the compiler recorded name the
 * value ("data.items is not iterable", "Cannot destructure property 'a' of 'res' as it is
 * undefined."), and without one the value itself is described, as V8 does.
 */
import type { Pat } from "../core/ir.js";
import { checkKey, evaluate, getProp, lookup, setProp, type Runtime } from "./evaluate.js";
import type { Env } from "./values.js";

export function isIterable(v: unknown): v is Iterable<unknown> {
  return v !== null && v !== undefined && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
}

/** How V8 describes a value it has no source text for: "number 5", "object null", "undefined". */
function valueText(v: unknown): string {
  if (v === null) return "object null";
  switch (typeof v) {
    case "number":
    case "boolean":
      return `${typeof v} ${String(v)}`;
    case "string":
      return `string "${v}"`;
    default:
      return typeof v;
  }
}

/**
 * The items of an iterable, or V8's TypeError: "<text> is not iterable" when the code's text
 * is known, else "<value> is not iterable (cannot read property Symbol(Symbol.iterator))".
 */
export function iterate(value: unknown, text?: string): unknown[] {
  if (Array.isArray(value)) return value;
  if (!isIterable(value)) {
    throw new TypeError(text !== undefined ? `${text} is not iterable` : `${valueText(value)} is not iterable (cannot read property Symbol(Symbol.iterator))`);
  }
  return [...value];
}

/** Binds a value to a declaration or assignment pattern. */
export function bind(rt: Runtime, p: Pat, value: unknown, env: Env): void {
  switch (p.k) {
    case "id":
      lookup(env, p.n, p.up).vars[p.n] = value;
      return;
    case "mem": {
      const o = evaluate(rt, p.o, env);
      const key = typeof p.p === "string" ? p.p : checkKey(evaluate(rt, p.p, env));
      setProp(o, key, value);
      return;
    }
    case "def":
      bind(rt, p.p, value === undefined ? evaluate(rt, p.d, env) : value, env);
      return;
    case "arrp": {
      const items = iterate(value, p.t);
      for (let i = 0; i < p.items.length; i++) {
        const sub = p.items[i];
        if (sub) bind(rt, sub, items[i], env);
      }
      if (p.rest) bind(rt, p.rest, items.slice(p.items.length), env);
      return;
    }
    case "objp": {
      if (value === null || value === undefined) {
        // V8's messages: the pattern's first property and the source text (or the value itself).
        const first = p.props[0]?.key;
        if (p.t === undefined) {
          if (typeof first !== "string") throw new TypeError(`Cannot read properties of ${String(value)}`);
          getProp(value, first);
        }
        const what = p.t === "#v" ? (value === null ? "object null" : "undefined") : p.t;
        throw new TypeError(
          typeof first === "string"
            ? `Cannot destructure property '${first}' of '${what}' as it is ${String(value)}.`
            : `Cannot destructure '${what}' as it is ${String(value)}.`,
        );
      }
      const used = new Set<PropertyKey>();
      for (const prop of p.props) {
        const key = typeof prop.key === "string" ? prop.key : checkKey(evaluate(rt, prop.key, env));
        used.add(key);
        bind(rt, prop.v, getProp(value, key), env);
      }
      if (p.rest) {
        const rest: Record<string, unknown> = {};
        const from = Object(value) as Record<string, unknown>;
        for (const k of Object.keys(from)) if (!used.has(k)) rest[k] = from[k];
        bind(rt, p.rest, rest, env);
      }
      return;
    }
  }
}
