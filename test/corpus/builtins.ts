import { workflow, Workflow } from "waymark";
import { echo, fetchUser } from "./actions.js";
import { casesOf } from "./case.js";

@workflow
export class ArrayCallbackMethods extends Workflow {
  async run(nums: number[]) {
    const words = await echo(["pear", "Apple", "fig", "banana"]);
    return {
      map: nums.map((n, i) => n * i),
      filter: nums.filter((n) => n % 2 === 0),
      reduce: nums.reduce((acc, n) => acc + n, 0),
      reduceNoInit: nums.length ? nums.reduce((a, b) => Math.max(a, b)) : null,
      reduceRight: nums.reduceRight((acc, n) => `${acc}${n}`, ""),
      find: nums.find((n) => n > 2),
      findIndex: nums.findIndex((n) => n > 2),
      findLast: nums.findLast((n) => n < 3),
      some: nums.some((n) => n > 4),
      every: nums.every((n) => n > 0),
      flatMap: nums.flatMap((n) => (n % 2 ? [n, n] : [])),
      sorted: [...words].sort(),
      sortedBy: [...words].sort((a, b) => a.length - b.length || a.localeCompare(b)),
      sortedNums: [...nums].sort((a, b) => b - a),
      defaultSortNums: [10, 9, 1, 100].sort(),
      toSorted: nums.toSorted((a, b) => a - b),
      chained: nums
        .filter((n) => n > 1)
        .map((n) => n * 10)
        .reduce((a, b) => a + b, 0),
      byKey: words
        .map((w) => ({ w, len: w.length }))
        .filter(({ len }) => len > 3)
        .map(({ w }) => w),
      fromEntries: Object.fromEntries(words.map((w, i) => [w, i])),
    };
  }
}

@workflow
export class ArrayMutationMethods extends Workflow {
  async run(seed: number[]) {
    const list = [...seed];
    const pushed = list.push(4, 5);
    const popped = list.pop();
    const shifted = list.shift();
    const unshifted = list.unshift(0);
    const reversed = [...list].reverse();
    const spliced = list.splice(1, 1, 99, 98);
    const nested = [1, [2, [3, [4]]]];
    const ownArray = await echo([3, 1, 2]);
    ownArray.sort();
    ownArray.reverse();
    ownArray.push(ownArray.length);
    const filled = new Array(3).fill(0);
    const arr = Array.from({ length: 4 }, (_, i) => i * i);
    return {
      list,
      pushed,
      popped,
      shifted,
      unshifted,
      reversed,
      spliced,
      flat: nested.flat(),
      flatDeep: nested.flat(Infinity),
      flat2: nested.flat(2),
      includes: [list.includes(99), list.includes(-1), [NaN].includes(NaN)],
      indexOf: [list.indexOf(99), list.indexOf(-1), list.lastIndexOf(0)],
      join: [list.join(), list.join("-"), [1, null, undefined, 2].join("/")],
      slice: [list.slice(1), list.slice(-2), list.slice(1, 2)],
      concat: (list as unknown[]).concat([7], 8, [[9]]),
      at: [list.at(0), list.at(-1), list.at(100)],
      ownArray,
      filled,
      arr,
      fromSet: Array.from(new Set([1, 2, 2])),
      fromString: Array.from("abc"),
      isArray: [Array.isArray(list), Array.isArray("no"), Array.isArray({ length: 0 })],
      of: Array.of(1, 2),
      keys: [...list.keys()],
      entries: [...["a", "b"].entries()],
      withCopy: list.with(0, -1),
      length: list.length,
    };
  }
}

@workflow
export class StringMethods extends Workflow {
  async run(text: string) {
    const s = await echo(text);
    return {
      upper: s.toUpperCase(),
      lower: s.toLowerCase(),
      trim: s.trim(),
      trimStart: s.trimStart(),
      trimEnd: s.trimEnd(),
      split: s.split(" "),
      splitLimit: s.split("", 3),
      splitRe: s.split(/\s+/),
      replace: s.replace("o", "0"),
      replaceAll: s.replaceAll("o", "0"),
      replaceRe: s.replace(/(\w+)/g, "<$1>"),
      includes: s.includes("lo"),
      starts: s.startsWith(" He"),
      ends: s.endsWith("d "),
      index: [s.indexOf("o"), s.lastIndexOf("o"), s.search(/W/)],
      slices: [s.slice(1, 4), s.substring(4, 1), s.slice(-3), s.at(-2), s.charAt(2), s.charCodeAt(2), s.codePointAt(0)],
      pad: ["7".padStart(3, "0"), "7".padEnd(3, "*")],
      repeat: "ab".repeat(3),
      match: s.match(/l+/g),
      matchGroups: "k=v".match(/(?<key>\w)=(?<value>\w)/)?.groups?.key,
      concat: s.concat("!", "?"),
      localeCompare: "a".localeCompare("b"),
      normalize: "é".normalize("NFD").length,
      fromCharCode: String.fromCharCode(72, 105),
      str: [String(12), String(null), String([1, 2]), String(true)],
      template: `${s
        .trim()
        .split(" ")
        .map((w) => w[0])
        .join("")}`,
      regexTest: /^\s/.test(s),
      length: s.length,
    };
  }
}

@workflow
export class MathNumberConversions extends Workflow {
  async run(x: number, s: string) {
    return {
      math: [
        Math.max(x, 3, -1),
        Math.min(),
        Math.abs(-x),
        Math.floor(x / 3),
        Math.ceil(x / 3),
        Math.round(2.5),
        Math.round(-2.5),
        Math.trunc(-x / 4),
        Math.sign(-x),
        Math.sqrt(16),
        Math.pow(2, 10),
        Math.hypot(3, 4),
        Math.cbrt(27),
        Math.log2(8),
        Math.PI.toFixed(4),
        Math.E > 2,
      ],
      number: [Number(s), Number(""), Number(null), Number("0x10"), Number(undefined), Number([5]), Number(true)],
      checks: [
        Number.isInteger(x),
        Number.isFinite(x / 0),
        Number.isNaN(Number(s)),
        Number.isSafeInteger(2 ** 53),
        Number.MAX_SAFE_INTEGER,
        Number.EPSILON > 0,
      ],
      parse: [parseInt(s), parseInt("ff", 16), parseInt("12px"), parseFloat("3.14abc"), parseFloat(".5"), Number.parseFloat("1e3")],
      format: [x.toFixed(2), (1234.5678).toPrecision(6), (255).toString(16), (0.000001234).toExponential(2), String(0.1 + 0.2)],
      booleans: [Boolean(""), Boolean("0"), Boolean(0), Boolean([]), Boolean(null), !!x],
      division: [x / 0, -x / 0, 0 / 0, -0 * 1, x % 0],
    };
  }
}

@workflow
export class ObjectAndJson extends Workflow {
  async run(id: string) {
    const user = await fetchUser(id);
    const copy = Object.assign({}, user, { extra: true });
    const text = JSON.stringify(user);
    const pretty = JSON.stringify({ a: [1, { b: 2 }] }, null, 2);
    const parsed = JSON.parse(text) as typeof user;
    const withReplacer = JSON.stringify({ a: 1, b: 2, c: 3 }, ["a", "c"]);
    const reviver = JSON.parse('{"n": 1, "m": 2}', (k, v) => (typeof v === "number" ? v * 10 : v));
    const dropped = JSON.stringify({ u: undefined, f: 1, d: new Date(0), nan: NaN });
    const map = new Map<string, number>([["a", 1]]);
    map.set("b", 2);
    const set = new Set([1, 2]);
    set.add(3);
    set.delete(1);
    return {
      keys: Object.keys(user),
      values: Object.values(user),
      entries: Object.entries(user),
      copy,
      parsed,
      same: parsed.id === user.id,
      text,
      pretty,
      withReplacer,
      reviver,
      dropped,
      hasOwn: [Object.hasOwn(user, "id"), Object.hasOwn(user, "nope")],
      is: [Object.is(NaN, NaN), Object.is(0, -0)],
      map,
      mapGet: map.get("b"),
      mapHas: map.has("z"),
      mapSize: map.size,
      mapKeys: [...map.keys()],
      set,
      setHas: set.has(2),
      setSize: set.size,
      setValues: Array.from(set.values()),
      date: new Date(Date.UTC(2024, 0, 31, 12)).toISOString(),
      dateParse: Date.parse("2024-02-01T00:00:00Z"),
      dateFromString: new Date("2024-03-01T10:00:00Z").getUTCHours(),
      dateValue: new Date(86_400_000),
      structured: structuredClone({ a: [1, { b: new Map([[1, 2]]) }] }),
      uri: [encodeURIComponent("a b&c"), decodeURIComponent("%F0%9F%98%80")],
    };
  }
}

@workflow
export class MethodsOnValues extends Workflow {
  async run(n: number) {
    const obj = await echo({ a: 1, nested: { b: [1, 2] } });
    const table = { max: Math.max, num: Number, join: (xs: number[]) => xs.join("+") };
    return {
      hasOwn: [obj.hasOwnProperty("a"), obj.hasOwnProperty("z"), obj.nested.b.hasOwnProperty(1)],
      enumerable: obj.propertyIsEnumerable("a"),
      toStrings: [obj.toString(), true.toString(), (n > 0).valueOf(), n.toString(2), [1, [2]].toString(), 10n.toString()],
      fromTable: [table.max(n, 10), table.num("7"), table.join([1, 2, n])],
      dateMethods: [new Date(0).getUTCFullYear(), new Date(Date.UTC(2020, 5, 15)).getUTCDay(), new Date(0).toJSON()],
      regex: [/a+/.test("caat"), /(\d+)-(\d+)/.exec("10-20")?.slice(1), "a1b2".replace(/\d/g, (d) => String(Number(d) * 2))],
    };
  }
}

/**
 * Members of the built-in namespaces taken by name: destructured (`const { max } = Math`, also
 * across an await), with a string-literal key (`Math["max"]`, the same as `Math.max`), and read
 * through a built-in held in a variable (`const N = Number; N.isInteger`).
 */
@workflow
export class BuiltinMembersByName extends Workflow {
  async run(xs: number[]) {
    const { max, min, PI } = Math;
    const { stringify, parse } = JSON;
    const { keys, entries: pairs, assign } = Object;
    const { isInteger: isInt = () => false, MAX_SAFE_INTEGER } = Number;
    const { ["floor"]: floor, [`ceil`]: ceil } = Math;
    const { isArray } = Array;
    const echoed = await echo(xs);
    const N = Number;
    const table = { round: Math["round"], parse: JSON[`parse`] };
    return {
      destructured: [max(...echoed), min(...echoed), PI, floor(2.7), ceil(2.1), isInt(3), isInt(3.5), MAX_SAFE_INTEGER, isArray(echoed)],
      json: stringify(parse('{"a":[1,2]}')),
      object: [keys({ a: 1, b: 2 }), pairs({ c: 3 }), assign({ a: 1 }, { b: 2 }, null, { a: 3 })],
      literalKeys: [Math["max"](3, 4), Math[`min`](3, 4), Number["isInteger"](5), JSON["stringify"]([1]), Object["keys"]({ z: 1 }), Math["PI"]],
      held: [N.isInteger(4), N.MAX_SAFE_INTEGER, N.name, N("12"), table.round(2.5), table.parse("[3]")],
      lengths: [Object.assign.length, Object.freeze.length, Object.assign.name, Object.freeze.name],
      frozen: Object.isFrozen(Object.freeze([1])),
    };
  }
}

export const cases = [
  ...casesOf(MethodsOnValues, [5]),
  ...casesOf(ArrayCallbackMethods, [[1, 2, 3, 4, 5]], [[]]),
  ...casesOf(ArrayMutationMethods, [[1, 2, 3]]),
  ...casesOf(StringMethods, [" Hello World "]),
  ...casesOf(MathNumberConversions, [7, "42"], [-3.5, "abc"]),
  ...casesOf(ObjectAndJson, ["u3"]),
  ...casesOf(BuiltinMembersByName, [[3, 1, 2]], [[]]),
];
