/**
 * The message of a workflow's log record: its arguments formatted as Node's console formats them
 * (`util.format`: `%s %d %i %f %j %o %O %c %%` in a first string argument, the other arguments
 * inspected and joined by spaces), without running code of the workflow or of its values. No
 * getter, `toString`, `valueOf`, `toJSON`, `Symbol.toPrimitive` or `util.inspect.custom` is
 * called: objects are inspected with getters and custom inspection off, where native code would
 * convert an object (`%s` of one with its own `toString`, `%d`, `%i`, `%f`) it is inspected or
 * gives NaN, and `%j` is a JSON writer of data properties. The message is capped at
 * LOG_MESSAGE_MAX_BYTES and made storable (no NUL, no lone surrogate).
 */
import { inspect, type InspectOptions } from "node:util";
import { LOG_MESSAGE_MAX_BYTES } from "../core/limits.js";

const OPTIONS: InspectOptions = {
  getters: false,
  customInspect: false,
  showProxy: false,
  colors: false,
  maxArrayLength: 100,
  maxStringLength: LOG_MESSAGE_MAX_BYTES,
};

const TRUNCATED = "…(truncated)";

const show = (v: unknown, extra?: InspectOptions): string => inspect(v, extra ? { ...OPTIONS, ...extra } : OPTIONS);

/** `-0` as console writes it; other numbers as JavaScript does. */
const num = (n: number): string => (Object.is(n, -0) ? "-0" : `${n}`);

const isObject = (v: unknown): v is object => (typeof v === "object" && v !== null) || typeof v === "function";

/** `%s`: primitives as `String()` does; objects and functions inspected (depth 0), never converted. */
function asString(v: unknown): string {
  if (typeof v === "number") return num(v);
  if (typeof v === "bigint") return `${v}n`;
  if (isObject(v)) return show(v, { depth: 0, compact: 3 });
  return String(v);
}

/** `%d`: a number; of an object only a Date's time (native code would call its valueOf). */
function asNumber(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "symbol") return "NaN";
  if (v instanceof Date) return num(Date.prototype.getTime.call(v));
  if (isObject(v)) return "NaN";
  return num(Number(v));
}

/** `%i` and `%f`: parseInt and parseFloat of a primitive; NaN for objects. */
function asParsed(v: unknown, parse: (s: string) => number): string {
  if (typeof v === "bigint" && parse === Number.parseInt) return `${v}n`;
  if (typeof v === "symbol" || isObject(v)) return "NaN";
  return num(parse(String(v)));
}

const CIRCULAR = Symbol("circular");
const FULL = Symbol("full");

/** An own data property (a getter is left out, as if absent). */
function own(o: object, key: string): unknown {
  const d = Object.getOwnPropertyDescriptor(o, key);
  return d && "value" in d ? d.value : undefined;
}

const omitted = (v: unknown) => v === undefined || typeof v === "function" || typeof v === "symbol";

/**
 * `%j`: JSON of the data, as JSON.stringify writes it but without calling `toJSON` (a Date is
 * its ISO time, as its built-in toJSON gives) or getters, "[Circular]" for a cycle (as console
 * writes it), a BigInt as its digits (where JSON.stringify throws). Stops past the message cap.
 */
function asJson(value: unknown): string {
  if (omitted(value)) return "undefined";
  let out = "";
  const path = new Set<object>();
  const put = (s: string) => {
    out += s;
    if (out.length > LOG_MESSAGE_MAX_BYTES) throw FULL;
  };
  const write = (x: unknown): void => {
    if (x === null || omitted(x)) return put("null");
    if (typeof x === "string") return put(JSON.stringify(x));
    if (typeof x === "number") return put(Number.isFinite(x) ? String(x) : "null");
    if (typeof x === "boolean" || typeof x === "bigint") return put(String(x));
    const o = x as object;
    if (o instanceof Date) {
      const t = Date.prototype.getTime.call(o);
      return put(Number.isNaN(t) ? "null" : JSON.stringify(Date.prototype.toISOString.call(o)));
    }
    if (o instanceof Number) return write(Number.prototype.valueOf.call(o));
    if (o instanceof String) return write(String.prototype.valueOf.call(o));
    if (o instanceof Boolean) return write(Boolean.prototype.valueOf.call(o));
    if (path.has(o)) throw CIRCULAR;
    path.add(o);
    if (Array.isArray(o)) {
      put("[");
      for (let i = 0; i < o.length; i++) {
        if (i) put(",");
        write(own(o, String(i)));
      }
      put("]");
    } else {
      put("{");
      let first = true;
      for (const key of Object.keys(o)) {
        const v = own(o, key);
        if (omitted(v)) continue;
        put(`${first ? "" : ","}${JSON.stringify(key)}:`);
        first = false;
        write(v);
      }
      put("}");
    }
    path.delete(o);
  };
  try {
    write(value);
  } catch (e) {
    if (e === CIRCULAR) return "[Circular]";
    if (e === FULL) return out;
    throw e;
  }
  return out;
}

/** `util.format`'s rules over interpreter values, with the conversions above. */
function format(args: readonly unknown[]): string {
  const first = args[0];
  let a = 0;
  let str = "";
  let join = "";
  if (typeof first === "string") {
    if (args.length === 1) return first;
    let lastPos = 0;
    for (let i = 0; i < first.length - 1; i++) {
      if (first.charCodeAt(i) !== 37) continue; // '%'
      const next = first.charCodeAt(++i);
      if (a + 1 !== args.length) {
        let piece: string;
        switch (next) {
          case 115: // s
            piece = asString(args[++a]);
            break;
          case 106: // j
            piece = asJson(args[++a]);
            break;
          case 100: // d
            piece = asNumber(args[++a]);
            break;
          case 79: // O
            piece = show(args[++a]);
            break;
          case 111: // o
            piece = show(args[++a], { showHidden: true, depth: 4 });
            break;
          case 105: // i
            piece = asParsed(args[++a], Number.parseInt);
            break;
          case 102: // f
            piece = asParsed(args[++a], Number.parseFloat);
            break;
          case 99: // c: CSS, which a log line has no use for
            a += 1;
            piece = "";
            break;
          case 37: // %%
            str += first.slice(lastPos, i);
            lastPos = i + 1;
            continue;
          default:
            continue;
        }
        if (lastPos !== i - 1) str += first.slice(lastPos, i - 1);
        str += piece;
        lastPos = i + 1;
      } else if (next === 37) {
        str += first.slice(lastPos, i);
        lastPos = i + 1;
      }
    }
    if (lastPos !== 0) {
      a++;
      join = " ";
      if (lastPos < first.length) str += first.slice(lastPos);
    }
  }
  while (a < args.length) {
    const v = args[a];
    str += join + (typeof v === "string" ? v : show(v));
    if (str.length > LOG_MESSAGE_MAX_BYTES) break; // past the cap: the rest would be cut anyway
    join = " ";
    a++;
  }
  return str;
}

/** NUL (which Postgres text cannot hold) and lone surrogates become U+FFFD. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const encoder = new TextEncoder();

/** The message of a record: formatted, storable, and at most LOG_MESSAGE_MAX_BYTES of UTF-8. */
export function logMessage(args: readonly unknown[]): string {
  let s = format(args);
  // Every character is at least one byte: past this many characters it is over the cap anyway.
  if (s.length > LOG_MESSAGE_MAX_BYTES) s = s.slice(0, LOG_MESSAGE_MAX_BYTES + 1);
  s = s.replace(UNSTORABLE, "\uFFFD");
  // Three bytes per UTF-16 unit at most: shorter text needs no count.
  if (s.length * 3 <= LOG_MESSAGE_MAX_BYTES) return s;
  const room = new Uint8Array(LOG_MESSAGE_MAX_BYTES);
  const { read } = encoder.encodeInto(s, room);
  if (read === s.length) return s;
  // Cut at a character boundary (encodeInto never splits one), leaving room for the marker.
  const { read: kept } = encoder.encodeInto(s, room.subarray(0, LOG_MESSAGE_MAX_BYTES - encoder.encode(TRUNCATED).length));
  return s.slice(0, kept) + TRUNCATED;
}
