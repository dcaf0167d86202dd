import test from "ava";
import * as fc from "fast-check";
import {
  ArrayTexts,
  decode,
  decodeParsed,
  encode,
  encodeGraph,
  encodeGraphPieces,
  errorFromData,
  errorToData,
  MAX_DEPTH,
  roundTrip,
  type Encoded,
  type ErrorData,
} from "../../core/codec.js";
import { SerializationError } from "../../core/errors.js";

/** Through JSON text, as values travel to and from Postgres. */
function viaJson(value: unknown): unknown {
  return decode(JSON.parse(JSON.stringify(encode(value))) as Encoded);
}

function viaJsonGraph(value: unknown): unknown {
  return decode(JSON.parse(JSON.stringify(encodeGraph(value))) as Encoded);
}

test("plain JSON encodes and decodes to equal values that share nothing with it (what is kept is not what the workflow goes on changing)", (t) => {
  const value = { a: [1, "two", true, null, { b: 2.5 }], c: "x" };
  const encoded = encode(value) as unknown as typeof value;
  const decoded = decode(encoded as unknown as Encoded) as typeof value;
  t.deepEqual(encoded, value);
  t.deepEqual(decoded, value);
  for (const [x, y] of [
    [encoded, value],
    [decoded, encoded],
  ] as const) {
    t.not(x, y);
    t.not(x.a, y.a);
    t.not(x.a[4], y.a[4]);
  }
  const list = [1, 2, 3];
  t.not(encode(list), list);
  t.not(decode(list), list);
});

test("text just parsed is decoded in place: decodeParsed reuses what has nothing to decode (snapshots)", (t) => {
  const parsed = JSON.parse('{"a":[1,2],"b":{"c":"x"}}') as Encoded;
  t.is(decodeParsed(parsed), parsed);
  const list = JSON.parse("[1,2]") as Encoded;
  t.is(decodeParsed(list), list);
});

test("undefined survives as a value, as an object key and in arrays", (t) => {
  t.is(viaJson(undefined), undefined);
  const obj = viaJson({ a: undefined, b: 1 }) as Record<string, unknown>;
  t.deepEqual(Object.keys(obj), ["a", "b"]);
  t.true("a" in obj);
  t.is(obj.a, undefined);
  const arr = viaJson([1, undefined, 3]) as unknown[];
  t.is(arr.length, 3);
  t.true(1 in arr);
});

test("a sparse array comes back hole-free, holes as undefined", (t) => {
  // biome-ignore lint/suspicious/noSparseArray: a hole is what this test stores
  const arr = viaJson([1, , 3]) as unknown[];
  t.deepEqual(arr, [1, undefined, 3]);
  t.true(1 in arr);
});

test("special numbers: -0, NaN, Infinity, -Infinity", (t) => {
  t.true(Object.is(viaJson(-0), -0));
  t.true(Number.isNaN(viaJson(NaN)));
  t.is(viaJson(Infinity), Infinity);
  t.is(viaJson(-Infinity), -Infinity);
  t.deepEqual(viaJson({ list: [0, -0, NaN] }), { list: [0, -0, NaN] });
  t.is(viaJson(0), 0);
});

test("BigInt, Date (valid and invalid), Map, Set, bytes", (t) => {
  t.is(viaJson(12345678901234567890123n), 12345678901234567890123n);
  t.is(viaJson(-1n), -1n);
  const date = viaJson(new Date("2024-02-29T12:34:56.789Z"));
  t.true(date instanceof Date);
  t.is((date as Date).toISOString(), "2024-02-29T12:34:56.789Z");
  const invalid = viaJson(new Date(NaN));
  t.true(invalid instanceof Date && Number.isNaN(invalid.getTime()));
  const map = new Map<unknown, unknown>([
    ["a", 1],
    [2, { b: undefined }],
    [3n, new Set([1, 2])],
  ]);
  t.deepEqual(viaJson(map), map);
  const set = new Set([1, "x", new Date(0), [1, 2]]);
  t.deepEqual(viaJson(set), set);
  const bytes = viaJson(new Uint8Array([0, 1, 255])) as Uint8Array;
  t.true(bytes instanceof Uint8Array); // a Buffer, holding the same bytes
  t.deepEqual([...bytes], [0, 1, 255]);
});

test("objects with a `$w` key are escaped, nested too", (t) => {
  const value = { $w: "u", nested: { $w: { $w: "date", v: "x" }, keep: undefined } };
  const back = viaJson(value) as typeof value;
  t.deepEqual(back, value);
  t.deepEqual(Object.keys(back.nested), ["$w", "keep"]);
});

test("errors keep name, message, stack, own fields and cause", (t) => {
  const cause = new RangeError("inner");
  const err = new TypeError("outer", { cause }) as TypeError & { code?: string; details?: unknown };
  err.code = "E_BAD";
  err.details = { retryable: false, at: new Date(0), missing: undefined };
  const back = viaJson(err) as typeof err;
  t.true(back instanceof TypeError);
  t.is(back.name, "TypeError");
  t.is(back.message, "outer");
  t.is(back.stack, err.stack);
  t.is(back.code, "E_BAD");
  t.deepEqual(back.details, err.details);
  t.true(back.cause instanceof RangeError);
  t.is((back.cause as Error).message, "inner");
  t.false(Object.keys(back).includes("cause"));
});

test("an AggregateError keeps its errors, across a process and in a workflow's state", (t) => {
  const agg = new AggregateError([new TypeError("first"), new Error("second", { cause: 7 })], "both failed");
  for (const back of [viaJson(agg), viaJsonGraph(agg), errorFromData(JSON.parse(JSON.stringify(errorToData(agg))))] as AggregateError[]) {
    t.true(back instanceof AggregateError);
    t.is(back.name, "AggregateError");
    t.is(back.message, "both failed");
    t.is(back.errors.length, 2);
    t.true(back.errors[0] instanceof TypeError);
    t.is(back.errors[0].message, "first");
    t.is(back.errors[1].cause, 7);
    t.false(Object.keys(back).includes("errors"));
  }
});

test("error names: a custom `name`, and a subclass's class name", (t) => {
  const named = new Error("m");
  named.name = "ValidationError";
  t.is((viaJson(named) as Error).name, "ValidationError");
  class QuotaError extends Error {}
  const sub = viaJson(new QuotaError("no quota")) as Error;
  t.is(sub.name, "QuotaError");
  t.true(sub instanceof Error);
});

test("an error field that cannot round-trip is described, not fatal", (t) => {
  class Socket {}
  const err = new Error("x") as Error & { socket?: unknown; fn?: unknown; ok?: number };
  err.socket = new Socket();
  err.fn = () => 1;
  err.ok = 1;
  const back = viaJson(err) as typeof err;
  t.is(back.ok, 1);
  t.regex(String(back.socket), /^\[unserializable: an instance of Socket/);
  t.false("fn" in back);
});

test("errorToData and errorFromData carry an error across a process as plain JSON", (t) => {
  const err = new Error("boom") as Error & { status?: number };
  err.name = "NetworkError";
  err.status = 503;
  const data = JSON.parse(JSON.stringify(errorToData(err)));
  t.like(data, { name: "NetworkError", message: "boom", fields: { status: 503 } });
  const back = errorFromData(data) as typeof err;
  t.is(back.name, "NetworkError");
  t.is(back.status, 503);
  t.deepEqual(errorToData("just a string"), { name: "NonError", message: "just a string", value: "just a string" });
});

test("a thrown value that is not an error reads naturally and comes back as itself", (t) => {
  const cases: Array<[unknown, string]> = [
    [undefined, "undefined"],
    [null, "null"],
    ["boom", "boom"],
    [42, "42"],
    [{ code: 42, why: "quota" }, "{ code: 42, why: 'quota' }"],
    [[1, "a"], "[ 1, 'a' ]"],
  ];
  for (const [thrown, text] of cases) {
    const data = JSON.parse(JSON.stringify(errorToData(thrown))) as ErrorData;
    t.is(data.name, "NonError");
    t.is(data.message, text);
    t.deepEqual(errorFromData(data), thrown);
  }
  // One that cannot be stored is described, and comes back as an error with that description.
  const data = errorToData(() => 1);
  t.like(data, { name: "NonError", message: "[Function (anonymous)]" });
  t.is((errorFromData(data) as Error).message, "[Function (anonymous)]");
});

test("an error made to break its reader is described, never an exception: throwing getters, a looping cause, a throwing toJSON, a hostile Proxy", (t) => {
  const getters = new Error("base");
  Object.defineProperty(getters, "message", {
    get() {
      throw new Error("no message for you");
    },
  });
  Object.defineProperty(getters, "detail", {
    enumerable: true,
    get() {
      throw new TypeError("no detail");
    },
  });
  const d1 = errorToData(getters);
  t.regex(d1.message, /^\(its message could not be read: .*no message for you/);
  t.regex(String(d1.fields?.detail), /^\[unreadable: .*no detail/);

  const looping = new Error("loop") as Error & { cause?: unknown };
  looping.cause = looping;
  const d2 = errorToData(looping);
  t.is(d2.message, "loop");
  t.regex(String(d2.cause), /^\[unserializable: a circular reference/);

  const withToJSON = Object.assign(new Error("json"), {
    toJSON() {
      throw new Error("no JSON");
    },
    toString() {
      throw new Error("no string");
    },
  });
  const d3 = JSON.parse(JSON.stringify(errorToData(withToJSON)));
  t.is(d3.message, "json");

  const hostile = new Proxy(new Error("proxied"), {
    get() {
      throw new Error("trap");
    },
    ownKeys() {
      throw new Error("trap");
    },
    getPrototypeOf() {
      throw new Error("trap");
    },
    has() {
      throw new Error("trap");
    },
  });
  const d4 = errorToData(hostile);
  t.is(typeof d4.name, "string");
  t.is(typeof d4.message, "string");
  t.notThrows(() => JSON.stringify(d4));

  const plainHostile = {
    toJSON() {
      throw new Error("no");
    },
    toString() {
      throw new Error("no");
    },
    get x() {
      throw new Error("no");
    },
  };
  const d5 = errorToData(plainHostile);
  t.is(d5.name, "NonError");
  t.notThrows(() => JSON.stringify(d5));
});

test("an error's own enumerable name stays enumerable, in its place: Object.keys as natively", (t) => {
  const err = Object.assign(new Error("m"), { name: "QuotaError", limit: 10 });
  const back = decode(JSON.parse(JSON.stringify(encode(err)))) as Error;
  t.deepEqual(Object.keys(back), ["name", "limit"]);
  t.is(back.name, "QuotaError");
  t.deepEqual({ ...back }, { name: "QuotaError", limit: 10 });
  const plain = decode(JSON.parse(JSON.stringify(encode(new TypeError("t"))))) as Error;
  t.deepEqual(Object.keys(plain), []);
  t.is(plain.name, "TypeError");
});

test("a stored error field named __proto__ is an own field; it never replaces the prototype", (t) => {
  const back = decode({ $w: "err", name: "Error", message: "m", fields: { ["__proto__"]: { polluted: true } } } as never) as Error & Record<string, unknown>;
  t.true(back instanceof Error);
  t.true(Object.hasOwn(back, "__proto__"));
  t.is(Object.getPrototypeOf(back), Error.prototype);
  t.is((back as { polluted?: unknown }).polluted, undefined);
});

test("strings Postgres's json refuses (NUL, unpaired surrogates) round-trip unchanged: values, keys, Map keys, nested", (t) => {
  const nul = "a\u0000b";
  const high = "ab\uD83D";
  const low = "\uDE00cd";
  const pair = "ok \uD83D\uDE00";
  const value = { [nul]: [nul, high, low, pair], nested: { deep: new Map([[high, low]]) }, set: new Set([low]), plain: pair };
  const encoded = encode(value);
  const text = JSON.stringify(encoded);
  t.false(/\\u0000|\\ud8[0-3][0-9a-f](?!\\ud[c-f])|(?<!\\ud8[0-3][0-9a-f])\\udc[0-9a-f]{2}/i.test(text), text);
  t.deepEqual(decode(JSON.parse(text)), value);
  t.is(decode(JSON.parse(JSON.stringify(encode("\u0000"))) as never), "\u0000");
  t.is(encode(pair), pair, "a well-formed string is stored as it is");
  // Error texts are made safe instead (shown, not lost).
  t.is(errorToData(new Error(`x${nul}`)).message, "xa\\u0000b");
});

test("nesting deeper than the codec's limit is a SerializationError naming the path and the limit", (t) => {
  let deep: unknown = "bottom";
  for (let i = 0; i < MAX_DEPTH + 5; i++) deep = [deep];
  const e = t.throws(() => encode(deep, "argument 1 of action a"), { instanceOf: SerializationError });
  t.regex(
    e!.message,
    new RegExp(
      `^argument 1 of action a cannot be stored: it is nested more than ${MAX_DEPTH} levels deep, the most a stored value may be \\(at argument 1 of action a\\[0\\]\\[0\\].*<\\.\\.\\.>`,
    ),
  );
  let ok: unknown = 1;
  for (let i = 0; i < MAX_DEPTH - 1; i++) ok = { a: ok };
  t.deepEqual(decode(JSON.parse(JSON.stringify(encode(ok)))), ok);
  let cyclicDeep: unknown[] = [];
  const root = cyclicDeep;
  for (let i = 0; i < MAX_DEPTH + 5; i++) {
    const next: unknown[] = [];
    cyclicDeep.push(next);
    cyclicDeep = next;
  }
  t.throws(() => encodeGraph(root), { instanceOf: SerializationError, message: /nested more than 1000 levels deep/ });
});

test("roundTrip is a deep copy through the codec", (t) => {
  const inner = { n: 1 };
  const value = { a: inner, b: [inner] };
  const copy = roundTrip(value);
  t.deepEqual(copy, value);
  t.not(copy.a, inner);
  t.not(copy.a, copy.b[0]); // plain mode does not keep sharing
});

test("graph mode keeps shared references", (t) => {
  const shared = { n: 1 };
  const list = [shared, shared];
  const back = viaJsonGraph({ x: shared, list, again: list, map: new Map([["k", shared]]) }) as {
    x: object;
    list: object[];
    again: object[];
    map: Map<string, object>;
  };
  t.is(back.x, back.list[0]);
  t.is(back.list[0], back.list[1]);
  t.is(back.list, back.again);
  t.is(back.map.get("k"), back.x);
  const date = new Date(0);
  const dates = viaJsonGraph([date, date]) as Date[];
  t.is(dates[0], dates[1]);
  const err = new Error("e");
  const errs = viaJsonGraph({ a: err, b: err }) as { a: Error; b: Error };
  t.is(errs.a, errs.b);
});

test("graph mode keeps cycles: objects, arrays, maps, sets", (t) => {
  const obj: Record<string, unknown> = { name: "root" };
  obj.self = obj;
  obj.children = [{ parent: obj }];
  const back = viaJsonGraph(obj) as { self: unknown; children: Array<{ parent: unknown }> };
  t.is(back.self, back);
  t.is(back.children[0]!.parent, back);
  const arr: unknown[] = [];
  arr.push(arr);
  const arrBack = viaJsonGraph(arr) as unknown[];
  t.is(arrBack[0], arrBack);
  const map = new Map<string, unknown>();
  map.set("me", map);
  const mapBack = viaJsonGraph(map) as Map<string, unknown>;
  t.is(mapBack.get("me"), mapBack);
  const set = new Set<unknown>();
  set.add(set);
  const setBack = viaJsonGraph(set) as Set<unknown>;
  t.true(setBack.has(setBack));
  const escaped: Record<string, unknown> = { $w: "u" };
  escaped.me = escaped;
  const escapedBack = viaJsonGraph(escaped) as Record<string, unknown>;
  t.is(escapedBack.me, escapedBack);
  t.is(escapedBack.$w, "u");
});

test("graph mode keeps the other tagged values", (t) => {
  // biome-ignore lint/suspicious/noSparseArray: a hole is one of the values this test stores
  const value = { u: undefined, z: -0, big: 5n, sparse: [1, , 3], m: new Map([[1, new Set([2])]]) };
  t.deepEqual(viaJsonGraph(value), { ...value, sparse: [1, undefined, 3] });
});

test("a cycle without graph mode is refused, naming the path", (t) => {
  const obj: Record<string, unknown> = { inner: {} };
  (obj.inner as Record<string, unknown>).back = obj;
  const e = t.throws(() => encode(obj, "result of workflow W"), { instanceOf: SerializationError });
  t.is(e?.message, "result of workflow W cannot be stored: a circular reference cannot be stored (at result of workflow W.inner.back)");
});

test("a function cannot be stored: the error names the value and its path", (t) => {
  const e = t.throws(() => encode({ user: { callbacks: [1, function onDone() {}] } }, "argument 1 of action greet"), { instanceOf: SerializationError });
  t.is(e?.code, "WAYMARK_SERIALIZATION");
  t.is(
    e?.message,
    "argument 1 of action greet cannot be stored: a function (onDone) cannot be stored: pass data, not code (at argument 1 of action greet.user.callbacks[1])",
  );
  const top = t.throws(() => encode(() => 1, "argument 2 of action greet"), { instanceOf: SerializationError });
  t.is(top?.message, "argument 2 of action greet cannot be stored: a function (anonymous) cannot be stored: pass data, not code");
});

test("a class instance cannot be stored: it would come back without its class", (t) => {
  class Money {
    constructor(readonly cents: number) {}
  }
  const e = t.throws(() => encode({ price: new Money(5) }), { instanceOf: SerializationError });
  t.is(
    e?.message,
    "value cannot be stored: an instance of Money cannot round-trip (it would come back without its class): pass a plain object (at value.price)",
  );
  class Items extends Array {}
  t.throws(() => encode({ list: new Items() }), { instanceOf: SerializationError, message: /an instance of Items \(an Array subclass\).*\(at value\.list\)/ });
});

test("a symbol cannot be stored, in objects, keys with odd names, maps and sets", (t) => {
  t.throws(() => encode({ "odd key": { "x-y": [Symbol("s")] } }), {
    instanceOf: SerializationError,
    message: 'value cannot be stored: a symbol (Symbol(s)) cannot be stored (at value["odd key"]["x-y"][0])',
  });
  t.throws(() => encode(new Map([["k", Symbol("m")]])), { instanceOf: SerializationError, message: /a symbol \(Symbol\(m\)\).*\(at value <map entry 0>\)/ });
  t.throws(() => encode({ s: new Set([Symbol("t")]) }), { instanceOf: SerializationError, message: /\(at value\.s <set item 0>\)/ });
});

test("an unknown tag in stored data is refused", (t) => {
  t.throws(() => decode({ $w: "future" }), { instanceOf: SerializationError, message: /unknown stored value tag "future"/ });
});

test("an own `__proto__` key survives when the object also holds a value that needs tagging", (t) => {
  const value = JSON.parse('{"__proto__": {"a": 1}, "b": null}') as Record<string, unknown>;
  value.b = undefined;
  const back = viaJson(value) as Record<string, unknown>;
  t.deepEqual(Object.keys(back), ["__proto__", "b"]);
});

test("graph mode decodes a cycle through an error's fields", (t) => {
  const err = new Error("loop") as Error & { self?: unknown };
  err.self = err;
  const back = viaJsonGraph(err) as typeof err;
  t.is(back.self, back);
});

test("a large array of plain values is written from its remembered text, as the whole encoding would write it, whatever happened to it between snapshots", (t) => {
  // What a workflow may do to an array between two snapshots: grow it, change, delete or
  // shrink it, put in what is not a plain value (-0, NaN, undefined, an unsafe string, an
  // object), hold it twice (a shared reference), or swap it for a copy.
  const item = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.string({ unit: "binary", maxLength: 8 }),
    fc.constantFrom(true, false, null, -0, 0, Number.NaN, undefined, "\0", "\ud800", { a: 1 }),
  );
  const op = fc.oneof(
    { arbitrary: fc.record({ push: fc.array(item, { maxLength: 40 }) }), weight: 4 },
    fc.record({ set: fc.nat(), to: item }),
    fc.record({ remove: fc.nat() }),
    fc.record({ shrink: fc.nat(300) }),
    // 0 then -0 in one place: equal by ===, written differently.
    fc.record({ zero: fc.nat() }),
    fc.constant("share" as const),
    fc.constant("copy" as const),
  );
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })), { minLength: 250, maxLength: 400 }),
      fc.array(op, { maxLength: 25 }),
      (start, ops) => {
        const texts = new ArrayTexts();
        let list: unknown[] = start.map((x) => (Object.is(x, -0) ? 0 : x));
        const root: Record<string, unknown> = { before: "x", list, after: [1, 2] };
        const same = () => t.is(encodeGraphPieces(root, undefined, texts).join(""), JSON.stringify(encodeGraph(root)));
        same();
        for (const o of ops) {
          if (o === "share") root.again = list;
          else if (o === "copy") root.list = list = [...list];
          else if ("push" in o) list.push(...o.push);
          else if ("set" in o) list[o.set % (list.length + 1)] = o.to;
          else if ("remove" in o) delete list[o.remove % (list.length + 1)];
          else if ("zero" in o) {
            list[o.zero % list.length] = 0;
            same();
            list[o.zero % list.length] = -0;
          } else list.length = Math.max(0, list.length - o.shrink);
          same();
        }
      },
    ),
    { numRuns: 150 },
  );
});

test("a remembered array's text cannot be forged by a stored string", (t) => {
  const texts = new ArrayTexts();
  // A string that reads like the place of a remembered array, next to a real one.
  const value = { fake: "\0" + "0", list: Array.from({ length: 300 }, (_, i) => i), text: '"\\u00000"' };
  const json = encodeGraphPieces(value, undefined, texts).join("");
  t.is(json, JSON.stringify(encodeGraph(value)));
  t.deepEqual(decode(JSON.parse(json) as Encoded), value);
});

test("property: what encode and decode return shares no array or object with their input", (t) => {
  const containers = (v: unknown, into = new Set<object>()): Set<object> => {
    if (v !== null && typeof v === "object" && !into.has(v)) {
      into.add(v);
      for (const x of Object.values(v)) containers(x, into);
    }
    return into;
  };
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      const encoded = encode(value);
      const decoded = decode(encoded);
      t.deepEqual(decoded, value);
      const given = containers(value);
      for (const c of containers(encoded)) if (given.has(c)) return false;
      const kept = containers(encoded);
      for (const c of containers(decoded)) if (kept.has(c)) return false;
      return true;
    }),
  );
});
