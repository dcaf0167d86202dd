/**
 * The pure built-ins a workflow may use: the one whitelist shared by the compiler (which
 * rejects anything else at decoration time) and the interpreter (which resolves names to
 * these values and checks method calls on values at run time).
 */

/**
 * What the interpreter made that a workflow holds but that is not a built-in: its closures and
 * action references (functions), and its opaque promises and iterators (objects). The
 * interpreter registers each as it makes it; the checks below tell them from built-ins.
 */
const made = new WeakSet<object>();

export function interpreterMade<T extends object>(value: T): T {
  made.add(value);
  return value;
}

/** Whether a value is one of the interpreter's opaque objects (a promise or an iterator). */
export function isOpaque(value: unknown): boolean {
  return typeof value === "object" && value !== null && made.has(value);
}

const MATH_FUNCTIONS = [
  "abs",
  "acos",
  "acosh",
  "asin",
  "asinh",
  "atan",
  "atan2",
  "atanh",
  "cbrt",
  "ceil",
  "clz32",
  "cos",
  "cosh",
  "exp",
  "expm1",
  "floor",
  "fround",
  "hypot",
  "imul",
  "log",
  "log10",
  "log1p",
  "log2",
  "max",
  "min",
  "pow",
  "round",
  "sign",
  "sin",
  "sinh",
  "sqrt",
  "tan",
  "tanh",
  "trunc",
] as const;
const MATH_CONSTANTS = ["E", "LN10", "LN2", "LOG10E", "LOG2E", "PI", "SQRT1_2", "SQRT2"] as const;

function entries(prefix: string, owner: Record<string, unknown>, names: readonly string[]): Array<[string, unknown]> {
  return names.map((n) => [`${prefix}.${n}`, owner[n]]);
}

/** Refuses to change a built-in (`Object.assign(Number, ...)`, `[Array].forEach(Object.freeze)`) or a promise or iterator. */
function refuseBuiltIn(target: unknown, what: string): void {
  if (isBuiltIn(target)) throw new TypeError(`${what} cannot change a built-in in a workflow`);
  if (isOpaque(target)) throw new TypeError(`${what} cannot change a promise or an iterator in a workflow`);
}

/**
 * `Object.assign` as a workflow gets it: native, except that its target cannot be a built-in,
 * and that a source's own `__proto__` key cannot reach the target's `__proto__` setter (which
 * would give a workflow object a prototype of its choosing).
 */
function guardedAssign(): (target: unknown, ...sources: unknown[]) => unknown {
  const { assign } = {
    assign(target: unknown, ...sources: unknown[]): unknown {
      refuseBuiltIn(target, "Object.assign");
      if (target !== null && target !== undefined && accessorOnChain(target, "__proto__")) {
        for (const s of sources) {
          if (s !== null && s !== undefined && Object.prototype.propertyIsEnumerable.call(s, "__proto__")) {
            throw new TypeError('Object.assign cannot copy a "__proto__" key in a workflow: it would change the target\'s prototype');
          }
        }
      }
      return Object.assign(target as object, ...sources);
    },
  };
  Object.defineProperty(assign, "length", { value: 2 });
  return assign;
}

function guardedFreeze(): (value: unknown) => unknown {
  const { freeze } = {
    freeze(value: unknown): unknown {
      refuseBuiltIn(value, "Object.freeze");
      return Object.freeze(value);
    },
  };
  return freeze;
}

/** Global paths (`Math.max`, `JSON.stringify`, `Number`, ...) and their values. */
export const GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ...entries("Math", Math as unknown as Record<string, unknown>, [...MATH_FUNCTIONS, ...MATH_CONSTANTS]),
  ["JSON.parse", JSON.parse],
  ["JSON.stringify", JSON.stringify],
  ...entries("Object", Object as unknown as Record<string, unknown>, ["keys", "values", "entries", "fromEntries", "hasOwn", "is", "isFrozen"]),
  // The two that change their argument refuse to change a built-in (see `guarded` below).
  ["Object.assign", guardedAssign()],
  ["Object.freeze", guardedFreeze()],
  ["Number", Number],
  ...entries("Number", Number as unknown as Record<string, unknown>, [
    "isInteger",
    "isFinite",
    "isNaN",
    "isSafeInteger",
    "parseFloat",
    "parseInt",
    "MAX_SAFE_INTEGER",
    "MIN_SAFE_INTEGER",
    "EPSILON",
    "MAX_VALUE",
    "MIN_VALUE",
    "POSITIVE_INFINITY",
    "NEGATIVE_INFINITY",
    "NaN",
  ]),
  ["String", String],
  ...entries("String", String as unknown as Record<string, unknown>, ["fromCharCode", "fromCodePoint", "raw"]),
  ["Boolean", Boolean],
  ["BigInt", BigInt],
  ["parseInt", parseInt],
  ["parseFloat", parseFloat],
  // biome-ignore lint/suspicious/noGlobalIsNan: workflows call the global isNaN (it coerces), not Number.isNaN
  ["isNaN", isNaN],
  // biome-ignore lint/suspicious/noGlobalIsFinite: workflows call the global isFinite (it coerces), not Number.isFinite
  ["isFinite", isFinite],
  ["encodeURIComponent", encodeURIComponent],
  ["decodeURIComponent", decodeURIComponent],
  ["encodeURI", encodeURI],
  ["decodeURI", decodeURI],
  ["structuredClone", structuredClone],
  ...entries("Array", Array as unknown as Record<string, unknown>, ["isArray", "from", "of"]),
  ["Date.UTC", Date.UTC],
  ["Date.parse", Date.parse],
  // Constructors usable with `new` and as the right side of `instanceof`.
  ["Error", Error],
  ["TypeError", TypeError],
  ["RangeError", RangeError],
  ["SyntaxError", SyntaxError],
  ["ReferenceError", ReferenceError],
  ["EvalError", EvalError],
  ["URIError", URIError],
  ["AggregateError", AggregateError],
  ["Map", Map],
  ["Set", Set],
  ["Date", Date],
  ["Array", Array],
  ["Object", Object],
  ["RegExp", RegExp],
]);

/** Constructors `new` may call. `new Date()` without arguments is refused by the compiler. */
export const CONSTRUCTORS: ReadonlySet<string> = new Set([
  "Error",
  "TypeError",
  "RangeError",
  "SyntaxError",
  "ReferenceError",
  "EvalError",
  "URIError",
  "AggregateError",
  "Map",
  "Set",
  "Date",
  "Array",
  "RegExp",
]);

/** Globals that are values, not namespaces: usable bare (`Number(x)`, `x instanceof Array`). */
export const GLOBAL_ROOTS: ReadonlySet<string> = new Set([
  "Math",
  "JSON",
  "Object",
  "Number",
  "String",
  "Boolean",
  "BigInt",
  "Array",
  "Date",
  "Error",
  "TypeError",
  "RangeError",
  "SyntaxError",
  "ReferenceError",
  "EvalError",
  "URIError",
  "AggregateError",
  "Map",
  "Set",
  "RegExp",
  "parseInt",
  "parseFloat",
  "isNaN",
  "isFinite",
  "encodeURIComponent",
  "decodeURIComponent",
  "encodeURI",
  "decodeURI",
  "structuredClone",
]);

const ARRAY_METHODS = new Set([
  "at",
  "concat",
  "entries",
  "every",
  "fill",
  "filter",
  "find",
  "findIndex",
  "findLast",
  "findLastIndex",
  "flat",
  "flatMap",
  "forEach",
  "includes",
  "indexOf",
  "join",
  "keys",
  "lastIndexOf",
  "map",
  "pop",
  "push",
  "reduce",
  "reduceRight",
  "reverse",
  "shift",
  "slice",
  "some",
  "sort",
  "splice",
  "toReversed",
  "toSorted",
  "toSpliced",
  "toString",
  "unshift",
  "values",
  "with",
]);
const STRING_METHODS = new Set([
  "at",
  "charAt",
  "charCodeAt",
  "codePointAt",
  "concat",
  "endsWith",
  "includes",
  "indexOf",
  "lastIndexOf",
  "localeCompare",
  "match",
  "matchAll",
  "normalize",
  "padEnd",
  "padStart",
  "repeat",
  "replace",
  "replaceAll",
  "search",
  "slice",
  "split",
  "startsWith",
  "substring",
  "substr",
  "toLowerCase",
  "toUpperCase",
  "toLocaleLowerCase",
  "toLocaleUpperCase",
  "toString",
  "trim",
  "trimEnd",
  "trimStart",
  "valueOf",
]);
const NUMBER_METHODS = new Set(["toFixed", "toPrecision", "toString", "toExponential", "toLocaleString", "valueOf"]);
const BIGINT_METHODS = new Set(["toString", "toLocaleString", "valueOf"]);
const MAP_METHODS = new Set(["get", "has", "set", "delete", "clear", "keys", "values", "entries", "forEach"]);
const SET_METHODS = new Set(["add", "has", "delete", "clear", "keys", "values", "entries", "forEach"]);
const DATE_METHODS = new Set([
  "getTime",
  "toISOString",
  "toJSON",
  "valueOf",
  "getFullYear",
  "getMonth",
  "getDate",
  "getDay",
  "getHours",
  "getMinutes",
  "getSeconds",
  "getMilliseconds",
  "getUTCFullYear",
  "getUTCMonth",
  "getUTCDate",
  "getUTCDay",
  "getUTCHours",
  "getUTCMinutes",
  "getUTCSeconds",
  "getUTCMilliseconds",
  "getTimezoneOffset",
  "toString",
  "toDateString",
  "toUTCString",
  "setTime",
  "setUTCFullYear",
  "setUTCMonth",
  "setUTCDate",
  "setUTCHours",
  "setUTCMinutes",
  "setUTCSeconds",
  "setUTCMilliseconds",
]);
const REGEXP_METHODS = new Set(["test", "exec", "toString"]);
const BOOLEAN_METHODS = new Set(["toString", "valueOf"]);
/** Object.prototype's pure methods, callable on any object. */
const OBJECT_METHODS = new Set(["hasOwnProperty", "propertyIsEnumerable", "isPrototypeOf", "toString", "valueOf"]);
const ITERATOR_METHODS = new Set(["next"]);

/**
 * Property names that lead out of the sandbox when a built-in provides them (`x.constructor` is
 * `Function` for any function, `x.__proto__` a shared prototype, `f.caller` a caller). A workflow
 * reads or writes them only as ordinary own data properties of its own objects (a word count over
 * "the prototype of the caller", a record with an `arguments` field): the interpreter refuses any
 * other read, and any write that would reach an accessor.
 */
export const FORBIDDEN_PROPERTIES: ReadonlySet<string> = new Set([
  "constructor",
  "__proto__",
  "prototype",
  "__defineGetter__",
  "__defineSetter__",
  "__lookupGetter__",
  "__lookupSetter__",
  "caller",
  "callee",
  "arguments",
]);

/**
 * The forbidden names the compiler refuses when written out (`x.constructor`, `const { __proto__ } = x`):
 * on a workflow's values they always name a built-in's member. The others (`row.prototype`,
 * `call.arguments`) are common field names, checked at run time.
 */
export const STATIC_FORBIDDEN_PROPERTIES: ReadonlySet<string> = new Set([
  "constructor",
  "__proto__",
  "__defineGetter__",
  "__defineSetter__",
  "__lookupGetter__",
  "__lookupSetter__",
]);

/** Shared built-in objects a workflow must never change or read forbidden members of: Math, JSON and the prototypes. */
const INTRINSIC_OBJECTS: ReadonlySet<object> = (() => {
  const out = new Set<object>([Math, JSON, globalThis]);
  const add = (o: unknown): void => {
    while (o !== null && (typeof o === "object" || typeof o === "function") && !out.has(o as object)) {
      if (typeof o === "object") out.add(o as object);
      o = Object.getPrototypeOf(o);
    }
  };
  for (const v of GLOBALS.values()) {
    if (typeof v === "function") {
      add((v as { prototype?: unknown }).prototype);
      add(Object.getPrototypeOf(v));
    }
  }
  add(Object.getPrototypeOf(function* () {}));
  add(Object.getPrototypeOf(async () => {}));
  for (const it of [[][Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](), ""[Symbol.iterator](), "".matchAll(/x/g)]) add(it);
  return out;
})();

/**
 * Whether a value is a built-in the workflow may use but never change: a function that is not
 * one of the workflow's closures or actions (`Number`, `Math.max`, a held `list.at`), or a shared
 * object (Math, JSON, a prototype).
 */
export function isBuiltIn(value: unknown): boolean {
  if (typeof value === "function") return !made.has(value);
  return typeof value === "object" && value !== null && INTRINSIC_OBJECTS.has(value);
}

/** Whether reading or writing `key` on `value` would find a getter or setter (own or inherited) before any data property. */
export function accessorOnChain(value: unknown, key: PropertyKey): boolean {
  for (let o: object | null = Object(value) as object; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const d = Object.getOwnPropertyDescriptor(o, key);
    if (d) return !("value" in d);
  }
  return false;
}

/**
 * Where a workflow may find a built-in held as a value (`const N = Number`): the path of its
 * whitelisted members, so `N.isInteger` is `Number.isInteger` and `D.now` (with `D = Date`) is
 * refused, as the dotted forms are.
 */
export const BUILT_IN_PATHS: ReadonlyMap<unknown, string> = (() => {
  const out = new Map<unknown, string>([
    [Math, "Math"],
    [JSON, "JSON"],
  ]);
  for (const [path, value] of GLOBALS) if ((typeof value === "function" || typeof value === "object") && !out.has(value)) out.set(value, path);
  return out;
})();

/** The set of methods callable on a value of this runtime type, or undefined. */
function methodsFor(value: unknown): ReadonlySet<string> | undefined {
  switch (typeof value) {
    case "string":
      return STRING_METHODS;
    case "number":
      return NUMBER_METHODS;
    case "bigint":
      return BIGINT_METHODS;
    case "boolean":
      return BOOLEAN_METHODS;
    case "object":
      if (value === null) return undefined;
      if (Array.isArray(value)) return ARRAY_METHODS;
      if (value instanceof Map) return MAP_METHODS;
      if (value instanceof Set) return SET_METHODS;
      if (value instanceof Date) return DATE_METHODS;
      if (value instanceof RegExp) return REGEXP_METHODS;
      if (typeof (value as { next?: unknown }).next === "function" && Symbol.iterator in value) return ITERATOR_METHODS;
      return OBJECT_METHODS;
    default:
      return undefined;
  }
}

/** Whether `value.key(...)` may be called in a workflow. */
export function methodAllowed(value: unknown, key: PropertyKey): boolean {
  if (typeof key !== "string") return false;
  if (methodsFor(value)?.has(key)) return true;
  return typeof value === "object" && value !== null && OBJECT_METHODS.has(key);
}

/**
 * The whitelisted prototype methods, by owner: a workflow may hold one as a value
 * (`const pick = list.at`), and snapshots store it as its owner and name.
 */
export const PROTOTYPE_METHODS: ReadonlyArray<readonly [string, object, ReadonlySet<string>]> = [
  ["Array", Array.prototype, ARRAY_METHODS],
  ["String", String.prototype, STRING_METHODS],
  ["Number", Number.prototype, NUMBER_METHODS],
  ["BigInt", BigInt.prototype, BIGINT_METHODS],
  ["Boolean", Boolean.prototype, BOOLEAN_METHODS],
  ["Map", Map.prototype, MAP_METHODS],
  ["Set", Set.prototype, SET_METHODS],
  ["Date", Date.prototype, DATE_METHODS],
  ["RegExp", RegExp.prototype, REGEXP_METHODS],
  ["Object", Object.prototype, OBJECT_METHODS],
];
