import { workflow, Workflow } from "waymark";
import { echo } from "./actions.js";
import { casesOf } from "./case.js";

/**
 * Values built-ins return that a workflow holds across an `await`, so they go through a snapshot
 * (and, on a supervisor, through Postgres): iterators, match arrays, methods held as values.
 */

@workflow
export class IteratorsAcrossAwaits extends Workflow {
  async run(items: number[]) {
    const it = items.values();
    const first = it.next();
    await echo("a step");
    items.push(99); // an array iterator is live, as natively
    const second = it.next().value;
    const rest = [...it];
    const set = new Set(["a", "b", "c"]).values();
    set.next();
    await echo("another step");
    const entries = [10, 20].entries();
    await echo("and another");
    return { first, second, rest, set: set.next(), after: set.next(), entries: Array.from(entries), done: it.next() };
  }
}

@workflow
export class IteratorLoops extends Workflow {
  async run(pairs: Array<[string, number]>) {
    const map = new Map(pairs);
    const keys = map.keys();
    const seen: string[] = [];
    // A `break` leaves the rest of a held iterator for later, as natively.
    for (const k of keys) {
      seen.push(await echo(k));
      if (seen.length === 1) break;
    }
    const next = keys.next();
    const values: number[] = [];
    for (const v of map.values()) values.push(await echo(v));
    return { seen, next, values, remaining: [...keys] };
  }
}

@workflow
export class MatchesAcrossAwaits extends Workflow {
  async run(text: string) {
    const re = /(?<word>[a-z]+)(\d)/g;
    const matches = text.matchAll(re);
    const first = matches.next().value;
    re.lastIndex = 0; // matchAll copied the RegExp: this changes nothing for it
    await echo("a step");
    const rest: Array<[string | undefined, string | undefined, number | undefined]> = [];
    for (const m of matches) {
      rest.push([m.groups?.word, m[2], m.index]);
      await echo("a step per match");
    }
    const exec = /(\d+)-(?<b>\d+)/.exec(`x ${text} 12-34`);
    await echo("after exec");
    let bad = "none";
    try {
      text.matchAll(/x/);
    } catch (e) {
      bad = (e as Error).message;
    }
    return {
      first: first && [first[0], first.index, first.groups?.word, first.input],
      rest,
      exec: exec && { all: [...exec], index: exec.index, b: exec.groups?.b, input: exec.input },
      bad,
    };
  }
}

@workflow
export class MethodsAsValues extends Workflow {
  async run(words: string[]) {
    const upper = "".toUpperCase;
    const push = words.push;
    const max = Math.max;
    await echo("a step");
    return { kinds: [typeof upper, typeof push, typeof max], max: max(...words.map((w) => w.length)) };
  }
}

export const cases = [
  ...casesOf(IteratorsAcrossAwaits, [[1, 2, 3]], [[]]),
  ...casesOf(
    IteratorLoops,
    [
      [
        ["a", 1],
        ["b", 2],
        ["c", 3],
      ],
    ],
    [[]],
  ),
  ...casesOf(MatchesAcrossAwaits, ["ab1 cd2 ef3"], ["none"]),
  ...casesOf(MethodsAsValues, [["a", "abc", "ab"]]),
];
