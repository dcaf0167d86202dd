/**
 * The pure built-ins a workflow may use: the one whitelist shared by the compiler (which
 * rejects anything else at decoration time) and the interpreter (which resolves names to
 * these values and checks method calls on values at run time).
 */

const MATH_FUNCTIONS = [
  "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "clz32", "cos", "cosh",
  "exp", "expm1", "floor", "fround", "hypot", "imul", "log", "log10", "log1p", "log2", "max", "min", "pow",
  "round", "sign", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
] as const;
const MATH_CONSTANTS = ["E", "LN10", "LN2", "LOG10E", "LOG2E", "PI", "SQRT1_2", "SQRT2"] as const;

function entries(prefix: string, owner: Record<string, unknown>, names: readonly string[]): Array<[string, unknown]> {
  return names.map((n) => [`${prefix}.${n}`, owner[n]]);
}

/** Global paths (`Math.max`, `JSON.stringify`, `Number`, ...) and their values. */
export const GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ...entries("Math", Math as unknown as Record<string, unknown>, [...MATH_FUNCTIONS, ...MATH_CONSTANTS]),
  ["JSON.parse", JSON.parse],
  ["JSON.stringify", JSON.stringify],
  ...entries("Object", Object as unknown as Record<string, unknown>, ["keys", "values", "entries", "fromEntries", "assign", "hasOwn", "is", "freeze", "isFrozen"]),
  ["Number", Number],
  ...entries("Number", Number as unknown as Record<string, unknown>, [
    "isInteger", "isFinite", "isNaN", "isSafeInteger", "parseFloat", "parseInt",
    "MAX_SAFE_INTEGER", "MIN_SAFE_INTEGER", "EPSILON", "MAX_VALUE", "MIN_VALUE", "POSITIVE_INFINITY", "NEGATIVE_INFINITY", "NaN",
  ]),
  ["String", String],
  ...entries("String", String as unknown as Record<string, unknown>, ["fromCharCode", "fromCodePoint", "raw"]),
  ["Boolean", Boolean],
  ["BigInt", BigInt],
  ["parseInt", parseInt],
  ["parseFloat", parseFloat],
  ["isNaN", isNaN],
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
  "Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError", "URIError", "AggregateError",
  "Map", "Set", "Date", "Array", "RegExp",
]);

/** Globals that are values, not namespaces: usable bare (`Number(x)`, `x instanceof Array`). */
export const GLOBAL_ROOTS: ReadonlySet<string> = new Set(["Math", "JSON", "Object", "Number", "String", "Boolean", "BigInt", "Array", "Date", "Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError", "URIError", "AggregateError", "Map", "Set", "RegExp", "parseInt", "parseFloat", "isNaN", "isFinite", "encodeURIComponent", "decodeURIComponent", "encodeURI", "decodeURI", "structuredClone"]);

const ARRAY_METHODS = new Set([
  "at", "concat", "entries", "every", "fill", "filter", "find", "findIndex", "findLast", "findLastIndex", "flat",
  "flatMap", "forEach", "includes", "indexOf", "join", "keys", "lastIndexOf", "map", "pop", "push", "reduce",
  "reduceRight", "reverse", "shift", "slice", "some", "sort", "splice", "toReversed", "toSorted", "toSpliced",
  "toString", "unshift", "values", "with",
]);
const STRING_METHODS = new Set([
  "at", "charAt", "charCodeAt", "codePointAt", "concat", "endsWith", "includes", "indexOf", "lastIndexOf",
  "localeCompare", "match", "matchAll", "normalize", "padEnd", "padStart", "repeat", "replace", "replaceAll",
  "search", "slice", "split", "startsWith", "substring", "substr", "toLowerCase", "toUpperCase",
  "toLocaleLowerCase", "toLocaleUpperCase", "toString", "trim", "trimEnd", "trimStart", "valueOf",
]);
const NUMBER_METHODS = new Set(["toFixed", "toPrecision", "toString", "toExponential", "toLocaleString", "valueOf"]);
const BIGINT_METHODS = new Set(["toString", "toLocaleString", "valueOf"]);
const MAP_METHODS = new Set(["get", "has", "set", "delete", "clear", "keys", "values", "entries", "forEach"]);
const SET_METHODS = new Set(["add", "has", "delete", "clear", "keys", "values", "entries", "forEach"]);
const DATE_METHODS = new Set([
  "getTime", "toISOString", "toJSON", "valueOf", "getFullYear", "getMonth", "getDate", "getDay", "getHours",
  "getMinutes", "getSeconds", "getMilliseconds", "getUTCFullYear", "getUTCMonth", "getUTCDate", "getUTCDay",
  "getUTCHours", "getUTCMinutes", "getUTCSeconds", "getUTCMilliseconds", "getTimezoneOffset", "toString",
  "toDateString", "toUTCString", "setTime", "setUTCFullYear", "setUTCMonth", "setUTCDate", "setUTCHours",
  "setUTCMinutes", "setUTCSeconds", "setUTCMilliseconds",
]);
const REGEXP_METHODS = new Set(["test", "exec", "toString"]);
const BOOLEAN_METHODS = new Set(["toString", "valueOf"]);
/** Object.prototype's pure methods, callable on any object. */
const OBJECT_METHODS = new Set(["hasOwnProperty", "propertyIsEnumerable", "isPrototypeOf", "toString", "valueOf"]);
const ITERATOR_METHODS = new Set(["next"]);

/** Property names a workflow can never read or call: they lead out of the sandbox. */
export const FORBIDDEN_PROPERTIES: ReadonlySet<string> = new Set(["constructor", "__proto__", "prototype", "__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__", "caller", "callee", "arguments"]);

/** The set of methods callable on a value of this runtime type, or undefined. */
export function methodsFor(value: unknown): ReadonlySet<string> | undefined {
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

/** Every method name callable on some value: the compiler's check for `x.method(...)`. */
export const ALL_METHODS: ReadonlySet<string> = new Set([
  ...ARRAY_METHODS, ...STRING_METHODS, ...NUMBER_METHODS, ...MAP_METHODS, ...SET_METHODS, ...DATE_METHODS, ...REGEXP_METHODS,
]);

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
