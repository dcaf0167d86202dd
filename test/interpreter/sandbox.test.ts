import test from "ava";
import { runMachine } from "../helpers/machine.js";
import { ChangeBuiltIns, GuardedNames, HeldBuiltIns } from "./fixtures/sandbox.js";

/**
 * The sandbox at run time, where the compiler cannot see what a value is: built-ins held in
 * variables, keys computed from data. Workflow code can never reach `Function` or a prototype,
 * nor change a built-in the supervisor shares with every other instance; a key that names a guarded
 * property is fine as an own data property (test/corpus/data-keys.ts runs those against native code).
 */

const unavailable = (key: string) => `TypeError: property "${key}" is not available in workflows`;

test("a built-in held in a variable shows only what its dotted form may use", async (t) => {
  t.deepEqual(await runMachine(HeldBuiltIns, ["defineProperty"]), [
    "TypeError: Object.getPrototypeOf is not available in workflows",
    "TypeError: Object.defineProperty is not available in workflows",
    "TypeError: RegExp.$1 is not available in workflows",
    "TypeError: Math.max.call is not available in workflows",
    [true, Number.MAX_SAFE_INTEGER, "Number", 2],
  ]);
});

test("built-ins are never changed: not by assignment, delete, Object.assign or freeze, nor by a method passed as a callback", async (t) => {
  const before = { isInteger: Number.isInteger, frozen: Object.isFrozen(Number), arrayKeys: Object.getOwnPropertyNames(Array).sort() };
  t.deepEqual(await runMachine(ChangeBuiltIns, []), [
    "TypeError: Number cannot be changed in a workflow",
    "TypeError: Number cannot be changed in a workflow",
    "TypeError: Number.polluted is not available in workflows",
    "TypeError: Number cannot be changed in a workflow",
    "TypeError: a built-in cannot be changed in a workflow",
    "TypeError: Object.assign cannot change a built-in in a workflow",
    "TypeError: Object.assign cannot change a built-in in a workflow",
    "TypeError: Object.freeze cannot change a built-in in a workflow",
    "TypeError: a built-in method cannot be passed as a callback in a workflow: wrap it in an arrow function",
    "TypeError: a built-in method cannot be passed as a callback in a workflow: wrap it in an arrow function",
    { a: 1, b: 2 },
  ]);
  t.is(Number.isInteger, before.isInteger);
  t.is(Object.isFrozen(Number), before.frozen);
  t.deepEqual(Object.getOwnPropertyNames(Array).sort(), before.arrayKeys);
  t.false("polluted" in Number);
  t.false("polluted" in Array.prototype.at);
});

test("guarded names a built-in provides are refused; absent ones read as undefined", async (t) => {
  t.deepEqual(await runMachine(GuardedNames, [["constructor", "__proto__", "caller", "prototype"]]), [
    unavailable("constructor"),
    unavailable("__proto__"),
    unavailable("constructor"),
    unavailable("caller"),
    unavailable("constructor"),
    unavailable("constructor"),
    unavailable("constructor"),
    unavailable("constructor"),
    unavailable("__proto__"),
    unavailable("prototype"),
    'TypeError: Object.assign cannot copy a "__proto__" key in a workflow: it would change the target\'s prototype',
    [undefined, undefined, undefined],
  ]);
  t.false("polluted" in {});
});
