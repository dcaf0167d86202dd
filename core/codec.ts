/**
 * The value codec: how arguments, results, errors and interpreter state cross processes and
 * live in Postgres. Plain JSON stays plain JSON (and is not copied); everything else JSON cannot
 * hold becomes a tagged object `{ "$w": tag, ... }`:
 *
 *   undefined            {"$w":"u"}
 *   NaN, ±Infinity, -0   {"$w":"num","v":"NaN"}
 *   bigint               {"$w":"big","v":"123"}
 *   Date                 {"$w":"date","v":"2024-01-01T00:00:00.000Z"}   (invalid: v null)
 *   Map / Set            {"$w":"map","v":[[k,v],...]} / {"$w":"set","v":[...]}
 *   Uint8Array, Buffer   {"$w":"bytes","v":"<base64>"}
 *   Error                {"$w":"err","name","message","stack","fields":{...},"cause"?,"errors"?}
 *                        (`errors`: an AggregateError's errors)
 *   object with "$w"     {"$w":"obj","v":{...}}                             (escaped)
 *   string with NUL or   {"$w":"s","v":["ab",0,"cd"]}                       (its safe runs, and
 *   a lone surrogate                                                        the code units between)
 *   object with such     {"$w":"ent","v":[[key, value], ...]}
 *   a key
 *
 * Postgres refuses NUL characters and unpaired surrogates in `json` and `jsonb` strings, though
 * they are valid JavaScript strings: tagged, they reach Postgres as numbers and come back as they
 * were. Nesting deeper than MAX_DEPTH levels is refused (Postgres and V8 parse JSON recursively).
 *
 * Anything else (functions, symbols, instances of user classes, cycles) is refused with a
 * SerializationError that names the value's path.
 *
 * Graph mode (`encodeGraph`, for the interpreter's snapshots) also keeps shared references
 * and cycles: an object reached twice is stored once as {"$w":"def","i":n,"v":...} and then
 * referred to as {"$w":"ref","i":n}, so two variables holding one array still hold one array
 * after a restore. An extension stores the interpreter's own objects (closures, handles).
 * `encodeGraphText` also remembers the text of large arrays of plain values (`ArrayTexts`), so
 * that a snapshot of an array that only grew encodes only what was added.
 */
import { inspect, types } from "node:util";
import { SerializationError } from "./errors.js";

export type Encoded = null | boolean | number | string | Encoded[] | { [key: string]: Encoded };

const TAG = "$w";

/** The deepest nesting of arrays, objects, Maps, Sets and errors a stored value may have. */
export const MAX_DEPTH = 1000;

/** Any NUL or surrogate at all: the cheap test, before the exact one. */
const SUSPECT = /[\0\uD800-\uDFFF]/;
/** A NUL, or a surrogate that is not half of a pair: what Postgres's json refuses. */
const UNSAFE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether Postgres would refuse this string inside json. */
function unsafeString(s: string): boolean {
  return SUSPECT.test(s) && UNSAFE.test(s);
}

/** A string Postgres would refuse: its safe runs as strings, the code units between as numbers. */
function encodeUnsafe(s: string): Encoded {
  const parts: Encoded[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0 && (c < 0xd800 || c > 0xdfff)) continue;
    if (c <= 0xdbff && c >= 0xd800 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++; // a pair: part of the run
        continue;
      }
    }
    if (i > start) parts.push(s.slice(start, i));
    parts.push(c);
    start = i + 1;
  }
  if (start < s.length) parts.push(s.slice(start));
  return { [TAG]: "s", v: parts };
}

function decodeUnsafe(parts: Encoded[]): string {
  let out = "";
  for (const p of parts) out += typeof p === "number" ? String.fromCharCode(p) : (p as string);
  return out;
}

/** Text about an error (its name, message, stack) made safe for json: NUL shown as \u0000, lone surrogates as U+FFFD. */
function safeText(s: string): string {
  return unsafeString(s) ? (s.replaceAll("\0", "\\u0000") as string & { toWellFormed(): string }).toWellFormed() : s;
}

export interface ErrorData {
  /** The error's name, or "NonError" for a thrown value that is not an error. */
  name: string;
  message: string;
  stack?: string;
  fields?: Record<string, Encoded>;
  cause?: Encoded;
  /** An AggregateError's `errors`. */
  errors?: Encoded;
  /** A thrown value that is not an error (a string, undefined, an object): what a `catch` gets back. */
  value?: Encoded;
}

export interface CodecExtension {
  /** A tag and the data to store for an object (or function) this extension owns. */
  encode(value: object): { tag: string; data: unknown } | undefined;
  /**
   * An empty object for `tag`, created before its data is decoded (so cycles resolve), or
   * undefined for a value built from its data by `build` (one that cannot be part of a cycle).
   */
  create(tag: string): object | undefined;
  build?(tag: string, data: unknown): unknown;
  /** Fills a created object with its decoded data. */
  fill(target: object, tag: string, data: unknown): void;
}

/** Sets an own property, even `__proto__` (which plain assignment would treat as the prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

class PathError extends Error {
  constructor(
    readonly reason: string,
    readonly path: string[],
  ) {
    super(reason);
  }
}

function className(value: object): string {
  const ctor = (value as { constructor?: { name?: string } }).constructor;
  return ctor && typeof ctor.name === "string" && ctor.name ? ctor.name : "an unnamed class";
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

function errorName(err: Error): string {
  if (typeof err.name === "string" && err.name !== "Error") return err.name;
  const ctor = err.constructor?.name;
  return ctor && ctor !== "Object" ? ctor : "Error";
}

/** Arrays at least this long are remembered by `ArrayTexts`. */
const ARRAY_TEXT_FROM = 256;
/** A remembered array's text grows in blocks of about this many characters, none rewritten once full. */
const BLOCK = 16_384;

/** A value JSON writes as it is, with no tag: a safe string, a plain number, a boolean, null. */
function isPlainValue(v: unknown): boolean {
  switch (typeof v) {
    case "number":
      return isPlainNumber(v);
    case "string":
      return !unsafeString(v);
    case "boolean":
      return true;
    default:
      return v === null;
  }
}

/**
 * One machine's memory of the JSON text of its large arrays of plain values (numbers, safe
 * strings, booleans, null), between its snapshots. An accumulating workflow's array only grows:
 * when the items remembered are still the array's first ones (compared one by one), its text is
 * the remembered text and the new items' text, so a step encodes what it added, not the whole
 * history. The text is kept in blocks, so that no step copies (or allocates) all of it. Held
 * weakly: an array the machine dropped is forgotten with it.
 */
export class ArrayTexts {
  private readonly known = new WeakMap<unknown[], { items: unknown[]; blocks: string[] }>();

  /** The text of `arr`'s items (no brackets) in blocks, or undefined if it is short or holds anything else. */
  blocksOf(arr: unknown[]): string[] | undefined {
    const n = arr.length;
    if (n < ARRAY_TEXT_FROM) return undefined;
    const hit = this.known.get(arr);
    let from = 0;
    if (hit && hit.items.length <= n) {
      const items = hit.items;
      from = items.length;
      for (let i = 0; i < items.length; i++) {
        const v = arr[i];
        // -0 equals 0 but is written tagged; a hole reads as undefined, never remembered.
        if (v !== items[i] || (v === 0 && 1 / v < 0)) {
          from = 0;
          break;
        }
      }
    }
    for (let i = from; i < n; i++) {
      if (!isPlainValue(arr[i])) {
        this.known.delete(arr);
        return undefined;
      }
    }
    if (hit && from > 0) {
      if (from === n) return hit.blocks;
      for (let i = from; i < n; i++) hit.items.push(arr[i]);
      const added = JSON.stringify(arr.slice(from)).slice(1, -1);
      const blocks = hit.blocks;
      const tail = blocks[blocks.length - 1]!;
      if (tail.length + added.length < BLOCK) blocks[blocks.length - 1] = flat(`${tail},${added}`);
      else blocks.push(`,${added}`);
      return blocks;
    }
    const blocks = [JSON.stringify(arr).slice(1, -1)];
    this.known.set(arr, { items: arr.slice(), blocks });
    return blocks;
  }
}

/**
 * A concatenation made one flat string now (V8 keeps `a + b` as a pair until it is read): a
 * block extended at every step would otherwise be a chain of as many pairs.
 */
function flat(s: string): string {
  // Number() reads the string, which flattens it in place; its result is not needed.
  Number(s);
  return s;
}

/**
 * Where `encodeGraphPieces` put a remembered array: a string that starts with NUL, which no
 * stored string can (a string with a NUL is written tagged), so none can pass for one.
 */
const PIECE = /"\\u0000(\d+)"/g;

class Encoder {
  private readonly seen = new Set<object>();
  private readonly path: string[] = [];
  /** Graph mode: how often each object is reached, and the ids of those already written. */
  private readonly counts: Map<object, number> | undefined;
  private readonly written: Map<object, number> | undefined;
  private readonly extData: Map<object, { tag: string; data: unknown }> | undefined;
  private nextId = 0;
  /** Graph mode with remembered arrays: their texts' blocks, by the number in their place. */
  readonly arrays: string[][] = [];

  /**
   * Outside graph mode the encoded value is kept (an action call's arguments until its attempts
   * end, a message until it is written) while the workflow goes on with its own: every array and
   * object is new, so nothing the workflow changes later reaches it. A graph (a snapshot) is
   * written out at once, and reuses what has nothing to encode.
   */
  private readonly copy: boolean;

  constructor(
    private readonly ext: CodecExtension | undefined,
    graph: boolean,
    private readonly texts?: ArrayTexts,
  ) {
    this.copy = !graph;
    this.counts = graph ? new Map() : undefined;
    this.written = graph ? new Map() : undefined;
    this.extData = ext ? new Map() : undefined;
  }

  private extOf(obj: object): { tag: string; data: unknown } | undefined {
    if (!this.ext || !this.extData) return undefined;
    let hit = this.extData.get(obj);
    if (!hit) {
      hit = this.ext.encode(obj);
      if (hit) this.extData.set(obj, hit);
    }
    return hit;
  }

  /** Graph mode, first pass: count how often each object is reached (the walk refuses what is nested too deep). */
  count(value: unknown, depth = 0): void {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return;
    const obj = value as object;
    const n = this.counts!.get(obj) ?? 0;
    this.counts!.set(obj, n + 1);
    if (n > 0 || depth > MAX_DEPTH) return;
    const d = depth + 1;
    const ext = this.extOf(obj);
    if (ext) return this.count(ext.data, d);
    if (typeof value === "function") return;
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        const v = obj[i];
        if (v !== null && (typeof v === "object" || typeof v === "function")) this.count(v, d);
      }
    } else if (obj instanceof Map) {
      for (const [k, v] of obj) {
        this.count(k, d);
        this.count(v, d);
      }
    } else if (obj instanceof Set) {
      for (const v of obj) this.count(v, d);
    } else if (obj instanceof Error) {
      for (const k of Object.keys(obj)) this.count((obj as unknown as Record<string, unknown>)[k], d);
      if ("cause" in obj) this.count(obj.cause, d);
      if (obj instanceof AggregateError) this.count(obj.errors, d);
    } else if (isPlainObject(obj)) {
      for (const k of Object.keys(obj)) this.count((obj as Record<string, unknown>)[k], d);
    }
  }

  private fail(reason: string): never {
    throw new PathError(reason, [...this.path]);
  }

  private child(key: string, value: unknown): Encoded {
    this.path.push(key);
    if (this.path.length > MAX_DEPTH && value !== null && (typeof value === "object" || typeof value === "function")) {
      this.fail(`it is nested more than ${MAX_DEPTH} levels deep, the most a stored value may be`);
    }
    const out = this.walk(value);
    this.path.pop();
    return out;
  }

  walk(value: unknown): Encoded {
    switch (typeof value) {
      case "string":
        return unsafeString(value) ? encodeUnsafe(value) : value;
      case "boolean":
        return value;
      case "number":
        if (isPlainNumber(value)) return value;
        return { [TAG]: "num", v: Object.is(value, -0) ? "-0" : String(value) };
      case "undefined":
        return { [TAG]: "u" };
      case "bigint":
        return { [TAG]: "big", v: value.toString() };
      case "symbol":
        return this.fail(`a symbol (${String(value)}) cannot be stored`);
    }
    if (value === null) return null;
    const obj = value as object;
    if (this.counts && (this.counts.get(obj) ?? 0) > 1) {
      const id = this.written!.get(obj);
      if (id !== undefined) return { [TAG]: "ref", i: id };
      const fresh = this.nextId++;
      this.written!.set(obj, fresh);
      return { [TAG]: "def", i: fresh, v: this.walkObject(obj) };
    }
    if (this.seen.has(obj)) return this.fail("a circular reference cannot be stored");
    this.seen.add(obj);
    try {
      return this.walkObject(obj);
    } finally {
      this.seen.delete(obj);
    }
  }

  private walkObject(obj: object): Encoded {
    const ext = this.extOf(obj);
    if (ext) return { [TAG]: "x", t: ext.tag, d: this.walk(ext.data) };
    if (typeof obj === "function") {
      return this.fail(`a function (${(obj as { name?: string }).name || "anonymous"}) cannot be stored: pass data, not code`);
    }
    if (Array.isArray(obj)) {
      if (Object.getPrototypeOf(obj) !== Array.prototype) {
        return this.fail(`an instance of ${className(obj)} (an Array subclass) cannot round-trip: pass a plain array`);
      }
      const blocks = this.texts?.blocksOf(obj);
      if (blocks !== undefined) return `\0${this.arrays.push(blocks) - 1}`;
      // Copying, the output starts empty; else it starts when an item needed encoding.
      let out: Encoded[] | undefined = this.copy ? [] : undefined;
      for (let i = 0; i < obj.length; i++) {
        const item = obj[i];
        const enc = this.child(String(i), item);
        if (out) out.push(enc);
        else if (enc !== item || !(i in obj)) {
          out = obj.slice(0, i) as Encoded[];
          out.push(enc);
        }
      }
      return out ?? (obj as Encoded[]);
    }
    if (obj instanceof Date) return { [TAG]: "date", v: Number.isNaN(obj.getTime()) ? null : obj.toISOString() };
    if (obj instanceof Map) {
      const entries: Encoded[] = [];
      let i = 0;
      for (const [k, v] of obj) {
        const at = `<map entry ${i++}>`;
        entries.push([this.child(at, k), this.child(at, v)]);
      }
      return { [TAG]: "map", v: entries };
    }
    if (obj instanceof Set) {
      const items: Encoded[] = [];
      let i = 0;
      for (const v of obj) items.push(this.child(`<set item ${i++}>`, v));
      return { [TAG]: "set", v: items };
    }
    if (obj instanceof Error) return this.error(obj);
    if (obj instanceof Uint8Array) return { [TAG]: "bytes", v: Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString("base64") };
    if (!isPlainObject(obj)) {
      return this.fail(`an instance of ${className(obj)} cannot round-trip (it would come back without its class): pass a plain object`);
    }
    let out: Record<string, Encoded> | undefined = this.copy ? {} : undefined;
    const keys = Object.keys(obj);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (unsafeString(key)) return this.entries(obj as Record<string, unknown>, keys);
      const item = (obj as Record<string, unknown>)[key];
      const enc = this.child(key, item);
      if (out) setOwn(out, key, enc);
      else if (enc !== item) {
        out = {};
        for (let j = 0; j < i; j++) setOwn(out, keys[j]!, (obj as Record<string, Encoded>)[keys[j]!]!);
        setOwn(out, key, enc);
      }
    }
    if (TAG in obj) return { [TAG]: "obj", v: out ?? (obj as Record<string, Encoded>) };
    return out ?? (obj as Record<string, Encoded>);
  }

  /** An object with a key Postgres would refuse: its entries, keys encoded like values. */
  private entries(obj: Record<string, unknown>, keys: string[]): Encoded {
    return { [TAG]: "ent", v: keys.map((k) => [this.walk(k), this.child(k, obj[k])]) };
  }

  /**
   * An error, read defensively: a getter that throws, a `cause` that loops, a field that cannot be
   * stored each give a description in their place, never an exception (an action's error must
   * reach the workflow as a failed attempt, whatever it is made of).
   */
  private error(err: Error): Encoded {
    const out: Record<string, Encoded> = {
      [TAG]: "err",
      name: safeText(
        read(
          () => errorName(err),
          (e) => `Error (its name could not be read: ${describeValue(e)})`,
        ),
      ),
      message: safeText(
        read(
          () => (typeof err.message === "string" ? err.message : describeValue(err.message)),
          (e) => `(its message could not be read: ${describeValue(e)})`,
        ),
      ),
    };
    const stack = read(
      () => err.stack,
      () => undefined,
    );
    if (typeof stack === "string") out.stack = safeText(stack);
    const fields: Record<string, Encoded> = {};
    let any = false;
    for (const key of read(
      () => Object.keys(err),
      () => [] as string[],
    )) {
      // An own enumerable `name` (`Object.assign(new Error(m), { name })`) is kept as a field, so
      // it comes back enumerable, in its place among the others.
      if (key === "message" || key === "stack" || key === "cause" || key === "errors") continue;
      const field = safeText(key);
      let v: unknown;
      try {
        v = (err as unknown as Record<string, unknown>)[key];
      } catch (e) {
        fields[field] = `[unreadable: ${safeText(describeValue(e))}]`;
        any = true;
        continue;
      }
      if (typeof v === "function" || typeof v === "symbol") continue;
      fields[field] = this.orDescription(field, v);
      any = true;
    }
    if (any) out.fields = fields;
    const cause = read(
      () => ("cause" in err ? err.cause : undefined),
      () => undefined,
    );
    if (cause !== undefined) out.cause = this.orDescription("cause", cause);
    const errors = read(
      () => (err instanceof AggregateError && Array.isArray(err.errors) ? (err.errors as unknown[]) : undefined),
      () => undefined,
    );
    if (errors) out.errors = this.orDescription("errors", errors);
    return out;
  }

  /** The value encoded, or, when it cannot be (a cycle, a class instance, a getter that throws), its description. */
  private orDescription(key: string, value: unknown): Encoded {
    const depth = this.path.length;
    try {
      return this.child(key, value);
    } catch (e) {
      this.path.length = depth;
      return `[unserializable: ${safeText(e instanceof PathError ? e.reason : describeValue(e))}]`;
    }
  }
}

/** `f()`, or what `fallback` makes of the error it threw. */
function read<T>(f: () => T, fallback: (e: unknown) => T): T {
  try {
    return f();
  } catch (e) {
    return fallback(e);
  }
}

/**
 * Any value as text, the way it reads naturally: a string as itself, `undefined`, `null`, a
 * number, an object as `util.inspect` shows it. Never runs the value's own code (no getters, no
 * custom inspect, no `toString`) and never throws.
 */
function describeValue(v: unknown): string {
  try {
    if (typeof v === "string") return v;
    if (v === null || (typeof v !== "object" && typeof v !== "function")) return String(v);
    return inspect(v, { depth: 2, breakLength: Infinity, customInspect: false, getters: false, showProxy: true, maxArrayLength: 20, maxStringLength: 1_000 });
  } catch {
    return "an unprintable value";
  }
}

function formatPath(full: string[]): string {
  // A path through deep nesting names its start and its end.
  const path = full.length > 12 ? [...full.slice(0, 8), "<...>", ...full.slice(-3)] : full;
  return path
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : p.startsWith("<") ? ` ${p}` : `[${JSON.stringify(p)}]`))
    .join("");
}

function run<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PathError) {
      const at = e.path.length ? ` (at ${what}${formatPath(e.path)})` : "";
      throw new SerializationError(`${what} cannot be stored: ${e.reason}${at}`);
    }
    throw e;
  }
}

/** A number JSON keeps as it is (not NaN, ±Infinity or -0, which are tagged). */
function isPlainNumber(n: number): boolean {
  return Number.isFinite(n) && !Object.is(n, -0);
}

/** Encodes a value for storage. `what` names it in errors, e.g. "argument 1 of action greet". */
export function encode(value: unknown, what = "value"): Encoded {
  // The common case, a string, a finite number, a boolean or null, is itself.
  if (typeof value === "string") return unsafeString(value) ? encodeUnsafe(value) : value;
  if (typeof value === "boolean" || value === null || (typeof value === "number" && isPlainNumber(value))) return value;
  return run(what, () => new Encoder(undefined, false).walk(value));
}

/** Encodes an object graph, keeping shared references and cycles; `ext` stores custom objects. */
export function encodeGraph(value: unknown, ext?: CodecExtension, what = "workflow state"): Encoded {
  return run(what, () => {
    const encoder = new Encoder(ext, true);
    encoder.count(value);
    return encoder.walk(value);
  });
}

/**
 * `encodeGraph` as JSON text, in pieces to be joined (what the interpreter's snapshots use): the
 * large arrays of plain values `texts` remembers are written from their remembered blocks, so a
 * large state costs a step what the step changed, and no single string holds all of it.
 */
export function encodeGraphPieces(value: unknown, ext: CodecExtension | undefined, texts: ArrayTexts, what = "workflow state"): string[] {
  return run(what, () => {
    const encoder = new Encoder(ext, true, texts);
    encoder.count(value);
    const json = JSON.stringify(encoder.walk(value));
    const arrays = encoder.arrays;
    if (!arrays.length) return [json];
    const pieces: string[] = [];
    let last = 0;
    for (const m of json.matchAll(PIECE)) {
      pieces.push(json.slice(last, m.index), "[", ...arrays[Number(m[1])]!, "]");
      last = m.index + m[0].length;
    }
    pieces.push(json.slice(last));
    return pieces;
  });
}

const NUMBERS: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, "-0": -0 };

class Decoder {
  private readonly defs = new Map<number, unknown>();
  /**
   * `reuse`: the encoded value is the caller's to give up (text it just parsed), so an array or
   * object with nothing to decode in it is returned as it is. Otherwise every container is new.
   */
  constructor(
    private readonly ext: CodecExtension | undefined,
    private readonly reuse = false,
  ) {}

  decode(value: Encoded): unknown {
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) {
      // Reusing, the output starts when an item needed decoding; else it starts empty.
      let out: unknown[] | undefined = this.reuse ? undefined : [];
      for (let i = 0; i < value.length; i++) {
        const item = value[i]!;
        const dec = this.decode(item);
        if (out) out.push(dec);
        else if (dec !== item) {
          out = value.slice(0, i);
          out.push(dec);
        }
      }
      return out ?? value;
    }
    const tag = value[TAG];
    if (typeof tag !== "string") return this.plain(value, undefined);
    switch (tag) {
      case "u":
        return undefined;
      case "num":
        return NUMBERS[value.v as string] ?? NaN;
      case "big":
        return BigInt(value.v as string);
      case "date":
        return new Date(value.v === null ? NaN : (value.v as string));
      case "map":
        return this.fillMap(new Map(), value.v as Encoded[]);
      case "set":
        return this.fillSet(new Set(), value.v as Encoded[]);
      case "bytes":
        return Buffer.from(value.v as string, "base64");
      case "err":
        return this.error(value);
      case "obj":
        return this.plain(value.v as Record<string, Encoded>, undefined);
      case "s":
        return decodeUnsafe(value.v as Encoded[]);
      case "ent":
        return this.fillEntries({}, value.v as Encoded[]);
      case "ref": {
        const id = value.i as number;
        if (!this.defs.has(id)) throw new SerializationError(`stored state refers to object ${id} before defining it`);
        return this.defs.get(id);
      }
      case "def":
        return this.def(value.i as number, value.v as Encoded);
      case "x":
        return this.custom(undefined, value);
      default:
        throw new SerializationError(`unknown stored value tag ${JSON.stringify(tag)}: was it written by a newer waymark?`);
    }
  }

  /** A shared object: created empty and registered before its contents, so cycles resolve. */
  private def(id: number, v: Encoded): unknown {
    if (Array.isArray(v)) {
      const arr: unknown[] = [];
      this.defs.set(id, arr);
      for (const item of v) arr.push(this.decode(item));
      return arr;
    }
    if (v !== null && typeof v === "object") {
      const tag = v[TAG];
      if (tag === undefined) {
        const obj: Record<string, unknown> = {};
        this.defs.set(id, obj);
        return this.plain(v, obj);
      }
      if (tag === "obj") {
        const obj: Record<string, unknown> = {};
        this.defs.set(id, obj);
        return this.plain(v.v as Record<string, Encoded>, obj);
      }
      if (tag === "ent") {
        const obj: Record<string, unknown> = {};
        this.defs.set(id, obj);
        return this.fillEntries(obj, v.v as Encoded[]);
      }
      if (tag === "map") {
        const m = new Map();
        this.defs.set(id, m);
        return this.fillMap(m, v.v as Encoded[]);
      }
      if (tag === "set") {
        const s = new Set();
        this.defs.set(id, s);
        return this.fillSet(s, v.v as Encoded[]);
      }
      if (tag === "x") return this.custom(id, v);
      if (tag === "err") return this.error(v, (e) => this.defs.set(id, e));
    }
    const out = this.decode(v);
    this.defs.set(id, out);
    return out;
  }

  private custom(id: number | undefined, value: Record<string, Encoded>): unknown {
    const ext = this.ext;
    const tag = value.t as string;
    if (!ext) throw new SerializationError(`stored value ${JSON.stringify(tag)} needs the interpreter to decode it`);
    const target = ext.create(tag);
    if (target === undefined) {
      const built = ext.build!(tag, this.decode(value.d as Encoded));
      if (id !== undefined) this.defs.set(id, built);
      return built;
    }
    if (id !== undefined) this.defs.set(id, target);
    ext.fill(target, tag, this.decode(value.d as Encoded));
    return target;
  }

  private fillMap(m: Map<unknown, unknown>, entries: Encoded[]): Map<unknown, unknown> {
    for (const e of entries) {
      const [k, v] = e as Encoded[];
      m.set(this.decode(k!), this.decode(v!));
    }
    return m;
  }

  private fillEntries(obj: Record<string, unknown>, entries: Encoded[]): Record<string, unknown> {
    for (const e of entries) {
      const [k, v] = e as Encoded[];
      setOwn(obj, String(this.decode(k!)), this.decode(v!));
    }
    return obj;
  }

  private fillSet(s: Set<unknown>, items: Encoded[]): Set<unknown> {
    for (const v of items) s.add(this.decode(v));
    return s;
  }

  private plain(value: Record<string, Encoded>, into: Record<string, unknown> | undefined): Record<string, unknown> {
    if (into) {
      for (const key of Object.keys(value)) setOwn(into, key, this.decode(value[key]!));
      return into;
    }
    let out: Record<string, unknown> | undefined = this.reuse ? undefined : {};
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const item = value[key]!;
      const dec = this.decode(item);
      if (out) setOwn(out, key, dec);
      else if (dec !== item) {
        out = {};
        for (let j = 0; j < i; j++) setOwn(out, keys[j]!, value[keys[j]!]);
        setOwn(out, key, dec);
      }
    }
    return out ?? value;
  }

  /** Decodes an error; `register` sees it before its fields (a field may refer back to it). */
  error(data: Record<string, Encoded>, register?: (e: Error) => void): Error {
    const name = typeof data.name === "string" ? data.name : "Error";
    const message = typeof data.message === "string" ? data.message : "";
    const err = data.errors !== undefined ? new AggregateError([], message) : new (BUILTIN_ERRORS[name] ?? Error)(message);
    const fields = data.fields && typeof data.fields === "object" && !Array.isArray(data.fields) ? (data.fields as Record<string, Encoded>) : undefined;
    // An own enumerable `name` comes back among the fields, in its place; otherwise it is the class's, as thrown.
    if (err.name !== name && !(fields && Object.hasOwn(fields, "name")))
      Object.defineProperty(err, "name", { value: name, writable: true, configurable: true, enumerable: false });
    if (typeof data.stack === "string") Object.defineProperty(err, "stack", { value: data.stack, writable: true, configurable: true, enumerable: false });
    register?.(err);
    if (fields) {
      // Own properties, whatever their names: a field called `__proto__` never replaces the prototype.
      for (const k of Object.keys(fields))
        Object.defineProperty(err, k, { value: this.decode(fields[k]!), writable: true, enumerable: true, configurable: true });
    }
    if (data.cause !== undefined) {
      Object.defineProperty(err, "cause", { value: this.decode(data.cause), writable: true, configurable: true, enumerable: false });
    }
    if (data.errors !== undefined) {
      Object.defineProperty(err, "errors", { value: this.decode(data.errors), writable: true, configurable: true, enumerable: false });
    }
    return err;
  }
}

/**
 * The inverse of `encode` and `encodeGraph`. The value shares nothing with `value`: an action's
 * result is also kept, as given, for its attempt row, and what a workflow does to its copy must
 * not reach the record (or, applied again on a resume, the workflow twice).
 */
export function decode(value: Encoded, ext?: CodecExtension): unknown {
  return decodeAs(value, ext, false);
}

/**
 * `decode` for encoded data nothing else holds (text just parsed: a stored state, a claimed
 * row's arguments): arrays and objects with nothing to decode in them are taken as they are.
 */
export function decodeParsed(value: Encoded, ext?: CodecExtension): unknown {
  return decodeAs(value, ext, true);
}

function decodeAs(value: Encoded, ext: CodecExtension | undefined, reuse: boolean): unknown {
  if (value === null || typeof value !== "object") return value;
  // A list of plain values (most arguments): no decoder and its map of references.
  if (Array.isArray(value) && plainItems(value)) return reuse ? value : value.slice();
  return new Decoder(ext, reuse).decode(value);
}

function plainItems(list: Encoded[]): boolean {
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (item !== null && typeof item === "object") return false;
  }
  return true;
}

/**
 * Error data for crossing a process boundary as plain JSON. Never throws, whatever was thrown:
 * an error whose getters throw or whose cause loops is described as far as it can be read; a
 * thrown value that is not an error (`throw "boom"`, `throw undefined`, `throw { code: 42 }`)
 * keeps its value, so a workflow's `catch` gets it back, and reads naturally (`NonError: boom`).
 */
export function errorToData(err: unknown): ErrorData {
  try {
    if (err instanceof Error || types.isNativeError(err)) {
      const enc = encode(err, "error") as Record<string, Encoded>;
      const data: ErrorData = { name: enc.name as string, message: enc.message as string };
      if (typeof enc.stack === "string") data.stack = enc.stack;
      if (enc.fields) data.fields = enc.fields as Record<string, Encoded>;
      if (enc.cause !== undefined) data.cause = enc.cause;
      if (enc.errors !== undefined) data.errors = enc.errors;
      return data;
    }
    const data: ErrorData = { name: "NonError", message: safeText(describeValue(err)) };
    try {
      data.value = encode(err, "the thrown value");
    } catch {
      // A value that cannot be stored (a function, a class instance): the description stands for it.
    }
    return data;
  } catch (e) {
    return { name: "Error", message: `${safeText(describeValue(err))} (it could not be read in full: ${safeText(describeValue(e))})` };
  }
}

/** The error (or thrown value) that error data describes. */
export function errorFromData(data: ErrorData): unknown {
  if (data.value !== undefined) return decode(data.value);
  return new Decoder(undefined).error({ [TAG]: "err", ...(data as unknown as Record<string, Encoded>) });
}

/**
 * What an instance failed with, encoded for its row: an error as `encode` stores it; any other
 * thrown value as a `NonError` error that describes it. Never throws.
 */
export function encodeFailure(e: unknown, what = "the workflow's error"): Encoded {
  if (e instanceof Error) {
    try {
      return encode(e, what);
    } catch {
      // Fall through to the description.
    }
  }
  const data = errorToData(e);
  return { [TAG]: "err", name: data.name, message: data.message };
}

/**
 * The size of an encoded value's JSON text, in characters, counted without building the text
 * and without walking further once it passes `limit` (the walk stops there and returns what it
 * has, above the limit). Strings count their length plus quotes (escapes are not counted).
 */
function encodedSize(value: Encoded, limit: number): number {
  return sizeOf(value, 0, limit);
}

function sizeOf(v: Encoded, size: number, limit: number): number {
  if (typeof v === "string") return size + v.length + 2;
  if (typeof v === "number") return size + 8;
  if (typeof v === "boolean" || v === null) return size + 5;
  if (Array.isArray(v)) {
    size += 2 + v.length;
    for (let i = 0; i < v.length && size <= limit; i++) size = sizeOf(v[i]!, size, limit);
    return size;
  }
  size += 2;
  for (const k in v) {
    size = sizeOf(v[k]!, size + k.length + 4, limit);
    if (size > limit) return size;
  }
  return size;
}

/** The default of WAYMARK_MAX_VALUE_BYTES. */
export const DEFAULT_MAX_VALUE_BYTES = 10 * 2 ** 20;

/** Refuses a value whose stored form would be over `limit` characters, naming it and the setting. */
export function checkSize(value: Encoded, what: string, limit: number, setting = "WAYMARK_MAX_VALUE_BYTES"): void {
  if (typeof value !== "object" || value === null) {
    if (typeof value !== "string" || value.length + 2 <= limit) return;
  }
  const size = encodedSize(value, limit);
  if (size > limit) {
    throw new SerializationError(
      `${what} is too large to store: over ${limit} bytes (the limit, ${setting}); pass a reference (an id, a URL) to data kept elsewhere`,
    );
  }
}

/** Deep copy through the codec: what a value looks like after a trip through Postgres. */
export function roundTrip<T>(value: T): T {
  return decode(JSON.parse(JSON.stringify(encode(value)))) as T;
}
