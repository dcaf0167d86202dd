import { workflow, Workflow } from "waymark";
import { echo } from "./actions.js";
import { casesOf } from "./case.js";

/**
 * Keys that come from data are ordinary keys, even when they are names the sandbox guards
 * (`prototype`, `caller`, `callee`, `arguments`, and an own `constructor`): a workflow reads and
 * writes them on its own objects as native code does.
 */
@workflow
export class WordCount extends Workflow {
  async run(text: string) {
    const counts: Record<string, number> = {};
    for (const w of text.split(/\s+/)) counts[w] = (counts[w] ?? 0) + 1;
    const byLength = new Map<number, string[]>();
    for (const w of Object.keys(counts)) byLength.set(w.length, [...(byLength.get(w.length) ?? []), w]);
    return { counts, byLength, has: ["prototype" in counts, Object.hasOwn(counts, "caller")] };
  }
}

@workflow
export class RecordsWithGuardedKeys extends Workflow {
  async run(rows: Array<Record<string, unknown>>) {
    const copies: Array<Record<string, unknown>> = [];
    for (const row of await echo(rows)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(row)) out[k] = row[k];
      copies.push(out);
    }
    const first: any = rows[0] ?? {};
    const { prototype, caller, callee, arguments: args = "none" } = first;
    const dotted = [first.prototype, first.caller, first.callee, first.arguments];
    const key = "constructor";
    const ownConstructor = Object.hasOwn(first, key) ? first[key] : "not own";
    const list: any = [1, 2];
    const text: any = "abc";
    const missing = [list["prototype"], list["caller"], text["arguments"], ({} as any)["callee"]];
    const written: any = {};
    written["prototype"] = 1;
    written["caller"] = 2;
    written.arguments = 3;
    written["callee"] = (written["callee"] ?? 0) + 4;
    written["constructor"] = 5;
    written["prototype"] += 10;
    delete written["caller"];
    const literal = { ["prototype"]: "p", ["__proto__"]: "own" };
    const parsed = JSON.parse('{"__proto__": {"x": 1}, "constructor": "c"}');
    const __proto__ = "shorthand";
    const shorthand = { __proto__ };
    return {
      copies,
      destructured: [prototype, caller, callee, args],
      dotted,
      ownConstructor,
      missing,
      written,
      writtenKeys: Object.keys(written),
      literal: [Object.keys(literal), literal["__proto__"]],
      parsed: [parsed["__proto__"], parsed["constructor"], Object.keys(parsed)],
      shorthand: [Object.keys(shorthand), shorthand["__proto__"]],
    };
  }
}

export const cases = [
  ...casesOf(WordCount, ["the prototype of the caller"], ["arguments callee caller prototype prototype"]),
  ...casesOf(
    RecordsWithGuardedKeys,
    [[{ id: 1, prototype: "p1", caller: "alice", callee: "bob", arguments: '{"q":1}', constructor: "own" }, { arguments: [1, 2] }]],
    [[{ id: 2 }]],
    [[]],
  ),
];
