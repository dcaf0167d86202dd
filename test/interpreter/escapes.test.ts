import test from "ava";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isWaymarkError } from "waymark";
import { runMachine } from "../helpers/machine.js";

/**
 * Workflow code tried as an attacker would: each attempt wants to run `code` in the supervisor
 * (through `Function`), change a built-in prototype, or forge an action's result. Each must be
 * refused when the class is decorated, or fail its own instance with a clear error; afterwards
 * the host's globals and built-in prototypes are what they were.
 *
 * Every body ends by using what it believes it reached (`F(code)()`, a forged value), so an
 * attempt that merely reads `undefined` fails too rather than passing silently.
 */
interface Attempt {
  name: string;
  body: string;
  /** Compiled-away attempts: refused when the class is decorated. Others fail at run time. */
  refused?: true;
}

const CODE = "globalThis.__waymarkEscaped = true; return process.pid";

const ATTEMPTS: Attempt[] = [
  // Interpreter internals behind an iterator.
  {
    name: "the reported chain: rewrite a held iterator's source, method and arguments",
    body: `const it: any = [1].values(); it.src = Number; it.method = "constructor"; it.args = [code]; it.it = null; try { for (const x of it) {} } catch {} const o: any = {}; o.toString = it.it; return "" + o;`,
  },
  { name: "read an iterator's native iterator", body: `const it: any = [1].values(); return it.it.next();` },
  {
    name: "Object.assign onto an iterator",
    body: `const it: any = [1].values(); Object.assign(it, { src: Number, method: "constructor", args: [code] }); return [...it][0]();`,
  },
  { name: "enumerate an iterator's fields", body: `const it: any = "ab".matchAll(/a/g); const k = Object.keys(it)[0] as any; return it[k](code)();` },
  { name: "spread an iterator", body: `const it: any = new Map([[1, 2]]).entries(); return ({ ...it } as any).src[code]();` },
  { name: "Object.values of an iterator", body: `const it: any = [1].entries(); return (Object.values(it)[0] as any)(code)();` },
  { name: "Object.entries of an iterator", body: `const it: any = [1].keys(); return (Object.entries(it)[0] as any)[1](code)();` },
  { name: "a held iterator method called on another object", body: `const it: any = [1].values(); const o: any = { next: it.next }; return o.next()(code);` },
  {
    name: "an iterator's method reached by a computed constructor key",
    body: `const it: any = [1].values(); const c = "construct" + "or"; return it.next[c](code)();`,
  },
  { name: "an iterator's constructor", body: `const it: any = [1].values(); const c = "construct" + "or"; return it[c][c](code)();` },
  { name: "JSON.stringify of an iterator", body: `const it: any = [5].values(); return (JSON.parse(JSON.stringify(it)) as any).src(code)();` },
  { name: "structuredClone of an iterator", body: `const it: any = [5].values(); return (structuredClone(it) as any).args[0](code);` },
  { name: "a Map iterator's collection", body: `const m = new Map([[1, 1]]); const it: any = m.keys(); return it.src.set(1, code).get(1)();` },
  // Interpreter internals behind a promise (a pending action call).
  {
    name: "Object.assign forges a pending call's result",
    body: `const p: any = echo("real"); Object.assign(p, { state: "ok", value: "forged" }); const v = await p; if (v !== "forged") throw new Error("not forged: " + v); return v;`,
  },
  { name: "assign a pending call's state", body: `const p: any = echo("real"); p.state = "ok"; p.value = "forged"; return await p;` },
  {
    name: "enumerate a promise's fields",
    body: `const p: any = echo(1); const call: any = Object.values(p).find((v: any) => v && v.args); call.args[0] = "forged"; return await p;`,
  },
  { name: "spread a promise", body: `const p: any = echo(1); const copy: any = { ...p }; copy.call.name = "other"; return await p;` },
  { name: "Object.entries of a promise", body: `const p: any = echo(1); return (Object.entries(p)[0] as any)[1].value;` },
  { name: "a promise's then", body: `const p: any = echo(1); return p.then((v: any) => v);` },
  { name: "structuredClone of a promise", body: `const p: any = echo(1); return (structuredClone(p) as any).call.args;` },
  { name: "delete a promise's state", body: `const p: any = echo(1); delete p.state; return await p;` },
  { name: "JSON round trip of a promise", body: `const p: any = echo(1); return (JSON.parse(JSON.stringify(p)) as any).call.name;` },
  { name: "a join's items", body: `const all: any = Promise.all([echo(1)]); return all.items[0];` },
  { name: "Object.freeze a promise, then assign to it", body: `const p: any = echo(1); Object.freeze(p); p.value = 1; return await p;` },
  // Closures and action references.
  { name: "a closure's constructor by a computed key", body: `const f: any = () => 1; const c = "construct" + "or"; return f[c](code)();` },
  { name: "call on a closure", body: `const f: any = () => 1; return f.call(null);` },
  { name: "apply on a closure", body: `const f: any = () => 1; return f.apply(null, []);` },
  { name: "bind on a closure", body: `const f: any = () => 1; return f.bind(null)();` },
  { name: "a closure's call method held and called", body: `const f: any = () => 1; const call = f.call; return call(code);` },
  { name: "a closure's caller", body: `const f: any = () => 1; const k = "call" + "er"; return f[k];` },
  { name: "a closure's arguments", body: `const f: any = () => 1; const k = "argu" + "ments"; return f[k];` },
  { name: "an action reference's constructor", body: `const a: any = echo; const c = "construct" + "or"; return a[c](code)();` },
  { name: "an action reference's bind", body: `const a: any = echo; return a.bind(null, code)();` },
  {
    name: "a closure's prototype written",
    body: `const f: any = () => 1; const k = "proto" + "type"; f[k] = { polluted: true }; return ({} as any).polluted.x;`,
  },
  // Built-in constructors and prototypes by computed keys.
  { name: "an array's constructor's constructor", body: `const c = "construct" + "or"; return ([] as any)[c][c](code)();` },
  { name: "a string's constructor", body: `const c = "construct" + "or"; return ("" as any)[c][c](code)();` },
  { name: "a number's constructor", body: `const c = "construct" + "or"; const n: any = 1; return n[c][c](code)();` },
  { name: "a boolean's constructor", body: `const c = "construct" + "or"; const b: any = true; return b[c][c](code)();` },
  { name: "a Map's constructor", body: `const c = "construct" + "or"; return (new Map() as any)[c][c](code)();` },
  { name: "a RegExp's constructor", body: `const c = "construct" + "or"; return (/x/ as any)[c][c](code)();` },
  { name: "a Date's constructor", body: `const c = "construct" + "or"; return (new Date(0) as any)[c][c](code)();` },
  { name: "an error's constructor", body: `const c = "construct" + "or"; return (new Error("x") as any)[c][c](code)();` },
  {
    name: "an object's __proto__ read",
    body: `const p = "__pro" + "to__"; const proto: any = ({} as any)[p]; proto.polluted = true; return ({} as any).polluted.x;`,
  },
  { name: "an object's __proto__ written", body: `const p = "__pro" + "to__"; const o: any = {}; o[p] = { polluted: true }; return o.polluted.x;` },
  { name: "an array's __proto__ by destructuring", body: `const p = "__pro" + "to__"; const { [p]: proto } = [] as any; proto.push = null; return proto.x.y;` },
  {
    name: "Object.assign copies a __proto__ key",
    body: `const src = JSON.parse('{"__proto__": {"polluted": true}}'); const o: any = Object.assign({}, src); return ({} as any).polluted.x;`,
  },
  {
    name: "a built-in held in a variable, then its prototype",
    body: `const A: any = Array; const k = "proto" + "type"; A[k].polluted = true; return ([] as any).polluted.x;`,
  },
  {
    name: "Object held, then getPrototypeOf by a computed key",
    body: `const O: any = Object; const k = "getPrototype" + "Of"; return O[k]([]).polluted = true;`,
  },
  { name: "Object held, then defineProperty", body: `const O: any = Object; const k = "define" + "Property"; O[k]({}, "x", { get: () => 1 }); return O;` },
  { name: "__defineGetter__ by a computed key", body: `const k = "__define" + "Getter__"; const o: any = {}; o[k]("x", () => code); return o.x.y;` },
  { name: "__lookupGetter__ of __proto__", body: `const k = "__lookup" + "Getter__"; const g = ({} as any)[k]("__proto__"); return g.call([]);` },
  {
    name: "Number.prototype by a computed key",
    body: `const N: any = Number; const k = "proto" + "type"; N[k].toFixed = () => "pwned"; return (1).toFixed(2).x.y;`,
  },
  {
    name: "change a built-in through Object.assign",
    body: `const N: any = Number; Object.assign(N, { isInteger: () => "pwned" }); return Number.isInteger(1);`,
  },
  { name: "a built-in method re-bound as a callback", body: `const push: any = [].push; return [1].map(push);` },
  { name: "a built-in method stored on an object and called", body: `const o: any = { f: [].push }; o.f(code); return o.length.x.y;` },
  // Hooks that built-ins call: toString, valueOf, toJSON, revivers, sort comparators.
  {
    name: "toString set to a reached constructor, handed to String()",
    body: `const c = "construct" + "or"; const o: any = {}; o.toString = (() => 1 as any)[c]; return String(o);`,
  },
  { name: "valueOf set to a held native, handed to arithmetic", body: `const o: any = {}; o.valueOf = [].pop; return (o + 1).x.y;` },
  {
    name: "toJSON set to a held iterator method, handed to JSON.stringify",
    body: `const it: any = [1].values(); const o: any = { toJSON: it.next }; return JSON.stringify(o);`,
  },
  {
    name: "a JSON.parse reviver that walks to its holder's constructor",
    body: `const c = "construct" + "or"; return JSON.parse('{"a":1}', (k: string, v: any) => (k === "" ? v[c][c](code)() : v));`,
  },
  { name: "a sort comparator that reaches Function", body: `const c = "construct" + "or"; return [2, 1].sort((a: any, b: any) => a[c][c](code)());` },
  {
    name: "join with elements whose toString is a reached constructor",
    body: `const c = "construct" + "or"; const o: any = { toString: ({} as any)[c] }; return [o].join(",");`,
  },
  // Compiled away: refused when the class is decorated.
  { name: "Function by name", body: `return Function(code)();`, refused: true },
  { name: "new Function", body: `return new Function(code)();`, refused: true },
  { name: "eval", body: `return eval(code);`, refused: true },
  { name: "globalThis", body: `return (globalThis as any).process.pid;`, refused: true },
  { name: "process", body: `return process.env;`, refused: true },
  { name: "a literal constructor key", body: `return ([] as any).constructor.constructor(code)();`, refused: true },
  { name: "a literal __proto__ key", body: `return ({} as any).__proto__;`, refused: true },
  { name: "Object.setPrototypeOf", body: `return Object.setPrototypeOf({}, null);`, refused: true },
  { name: "Object.getPrototypeOf", body: `return Object.getPrototypeOf([]);`, refused: true },
  { name: "Reflect", body: `return Reflect.get({}, "x");`, refused: true },
  { name: "Symbol.toPrimitive", body: `const o: any = { [Symbol.toPrimitive]: () => 1 }; return +o;`, refused: true },
  { name: "a getter in an object literal", body: `const o = { get x() { return 1; } }; return o.x;`, refused: true },
  { name: "a function expression (to get a this)", body: `return [1].map(function (this: any) { return this; });`, refused: true },
  { name: "import()", body: `return await import("node:child_process");`, refused: true },
  { name: "a constructor destructured", body: `const { constructor: C } = [] as any; return C;`, refused: true },
];

/** What must come out of the attempts unchanged: the globals and built-in prototypes, by name and value. */
function hostSurface(): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const roots: Array<[string, object]> = [
    ["Object.prototype", Object.prototype],
    ["Array.prototype", Array.prototype],
    ["Function.prototype", Function.prototype],
    ["String.prototype", String.prototype],
    ["Number.prototype", Number.prototype],
    ["Boolean.prototype", Boolean.prototype],
    ["Map.prototype", Map.prototype],
    ["Set.prototype", Set.prototype],
    ["Date.prototype", Date.prototype],
    ["RegExp.prototype", RegExp.prototype],
    ["Error.prototype", Error.prototype],
    ["Object", Object],
    ["Array", Array],
    ["Number", Number],
    ["JSON", JSON],
    ["Math", Math],
    ["IteratorPrototype", Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()))],
  ];
  for (const [name, obj] of roots) {
    out.set(`${name} prototype`, Object.getPrototypeOf(obj));
    out.set(`${name} extensible`, Object.isExtensible(obj));
    for (const key of Reflect.ownKeys(obj)) {
      const d = Object.getOwnPropertyDescriptor(obj, key)!;
      if ("value" in d) out.set(`${name}.${String(key)}`, d.value);
      else {
        out.set(`${name}.${String(key)} get`, d.get);
        out.set(`${name}.${String(key)} set`, d.set);
      }
    }
  }
  // Node defines some globals lazily (an accessor until first use): compare their names only.
  // (waymark's own registries appear there when the first action and workflow register.)
  for (const key of Reflect.ownKeys(globalThis)) if (!String(key).startsWith("Symbol(waymark.")) out.set(`globalThis.${String(key)}`, true);
  out.set("env.ESCAPED", process.env.ESCAPED);
  return out;
}

// Inside the package, so the modules import "waymark" as users do.
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(path.join(artifacts, "escapes-"));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Decorates one attempt in a module of its own: the refusal, or the workflow class. */
async function load(i: number, a: Attempt): Promise<{ refused: unknown } | { cls: unknown }> {
  const file = path.join(dir, `escape${i}.ts`);
  writeFileSync(
    file,
    `import { action, workflow, Workflow } from "waymark";\n` +
      `export const echo = action(async function escapeEcho${i}(x: unknown) { return x; });\n` +
      `@workflow\nexport class Escape${i} extends Workflow {\n  async run(code: string) {\n    ${a.body}\n  }\n}\n`,
  );
  try {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    return { cls: mod[`Escape${i}`] };
  } catch (e) {
    return { refused: e };
  }
}

test.serial(`${ATTEMPTS.length} escape attempts are refused or fail their own instance, and the host is unchanged`, async (t) => {
  t.true(ATTEMPTS.length >= 50);
  const before = hostSurface();
  const problems: string[] = [];
  for (const [i, a] of ATTEMPTS.entries()) {
    const loaded = await load(i, a);
    if ("refused" in loaded) {
      const e = loaded.refused as Error;
      if (!a.refused) problems.push(`${a.name}: refused at decoration, expected to compile: ${String(e)}`);
      else if (!isWaymarkError(e) || e.name !== "UnsupportedPatternError") problems.push(`${a.name}: failed to load: ${String(e)}`);
      continue;
    }
    if (a.refused) problems.push(`${a.name}: expected a refusal at decoration, but it compiled`);
    const outcome = await runMachine(loaded.cls, [CODE]).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    if (outcome.ok) problems.push(`${a.name}: completed with ${JSON.stringify(outcome.value)}`);
    else {
      const e = outcome.error as Error;
      if (!(e instanceof Error) || !e.message || /forged/.test(e.message)) problems.push(`${a.name}: failed unclearly: ${String(e)}`);
      else t.log(`${a.name}: ${e.name}: ${e.message}`);
    }
    if ((globalThis as Record<string, unknown>).__waymarkEscaped !== undefined) problems.push(`${a.name}: ran code in the host`);
  }
  t.deepEqual(problems, []);
  const after = hostSurface();
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => !Object.is(before.get(k), after.get(k)));
  t.deepEqual(changed, [], "globals and built-in prototypes are unchanged");
  t.is(({} as Record<string, unknown>).polluted, undefined);
});
