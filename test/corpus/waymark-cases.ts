import { action, workflow, Workflow } from "waymark";
import { casesOf } from "./case.js";

/** The integration cases of the original (Python) waymark, ported. */

export const evaluateScore = action("corpus.evaluateScore", async function evaluateScore(value: number): Promise<{ score: number; tier: string }> {
  return { score: value * 10, tier: value > 5 ? "high" : "low" };
});
export const highPath = action("corpus.highPath", async function highPath(score: number): Promise<string> {
  return `high:${score}`;
});
export const lowPath = action("corpus.lowPath", async function lowPath(score: number): Promise<string> {
  return `low:${score}`;
});
export const checkFlag = action("corpus.checkFlag", async function checkFlag(flag: string): Promise<boolean> {
  return flag === "on";
});
export const processItem = action("corpus.processItem", async function processItem(item: string): Promise<number> {
  return item.length;
});
export const computeSquare = action("corpus.computeSquare", async function computeSquare(n: number): Promise<number> {
  return n * n;
});
export const computeCube = action("corpus.computeCube", async function computeCube(n: number): Promise<number> {
  return n * n * n;
});
export const loadRecords = action("corpus.loadRecords", async function loadRecords(source: string): Promise<
  Array<{ id: number; value: number; source: string }>
> {
  return [1, 2, 3, 4, 5].map((id) => ({ id, value: (id * 7) % 5, source }));
});
export const saveSummary = action("corpus.saveSummary", async function saveSummary(summary: { count: number; total: number }): Promise<string> {
  return `saved ${summary.count} records, total ${summary.total}`;
});
export const normalizeText = action("corpus.normalizeText", async function normalizeText(text: string): Promise<string> {
  return text.trim().toLowerCase();
});

@workflow
export class ConditionalWorkflow extends Workflow {
  async run(value: number) {
    const result = await evaluateScore(value);
    if (result.tier === "high") return highPath(result.score);
    return await lowPath(result.score);
  }
}

@workflow
export class ImmediateConditionalWorkflow extends Workflow {
  async run(flag: string) {
    if (await checkFlag(flag)) return "flag was on";
    else return "flag was off";
  }
}

@workflow
export class ForLoopAccumulatorWorkflow extends Workflow {
  async run(items: string[]) {
    let total = 0;
    const lengths: number[] = [];
    for (const item of items) {
      const length = await processItem(item);
      lengths.push(length);
      total += length;
    }
    return { total, lengths, average: items.length ? total / items.length : 0 };
  }
}

@workflow
export class ParallelWorkflow extends Workflow {
  async run(n: number) {
    const [square, cube] = await Promise.all([computeSquare(n), computeCube(n)]);
    return { square, cube, sum: square + cube };
  }
}

@workflow
export class GatherListWorkflow extends Workflow {
  async run(numbers: number[]) {
    const squares = await Promise.all(numbers.map((n) => computeSquare(n)));
    return squares.reduce((a, b) => a + b, 0);
  }
}

@workflow
export class TupleUnpackingWorkflow extends Workflow {
  async run(n: number) {
    const [square, cube] = await this.computeBoth(n);
    const { low, high } = this.split([square, cube]);
    return `${square},${cube},${low},${high}`;
  }

  async computeBoth(n: number): Promise<[number, number]> {
    const square = await computeSquare(n);
    const cube = await computeCube(n);
    return [square, cube];
  }

  split(values: number[]) {
    return { low: Math.min(...values), high: Math.max(...values) };
  }
}

@workflow
export class NestedConditionalsWorkflow extends Workflow {
  async run(a: number, b: number) {
    const first = await evaluateScore(a);
    if (first.tier === "high") {
      const second = await evaluateScore(b);
      if (second.tier === "high") return "both high";
      else if (second.score === 0) return "first high, second zero";
      return "first high only";
    } else {
      if (b > a) {
        return (await checkFlag("on")) ? "second larger" : "unreachable";
      }
      return "neither";
    }
  }
}

@workflow
export class DataPipelineWorkflow extends Workflow {
  async run(sources: string[]) {
    const batches = await Promise.all(sources.map((s) => loadRecords(s)));
    const records = batches.flat();
    const valid = records.filter((r) => r.value > 0);
    const bySource: Record<string, number> = {};
    for (const r of valid) bySource[r.source] = (bySource[r.source] ?? 0) + r.value;
    const ranked = Object.entries(bySource)
      .sort(([, x], [, y]) => y - x)
      .map(([source, total], rank) => ({ rank: rank + 1, source, total }));
    const summary = { count: valid.length, total: valid.reduce((acc, r) => acc + r.value, 0) };
    const saved = await saveSummary(summary);
    return { ranked, summary, saved };
  }
}

@workflow
export class StringProcessingWorkflow extends Workflow {
  async run(words: string[]) {
    const normalized = await Promise.all(words.map((w) => normalizeText(w)));
    const unique = [...new Set(normalized)].filter((w) => w.length > 0);
    const capitalized = unique.map((w) => w.charAt(0).toUpperCase() + w.slice(1));
    const sentence = capitalized.join(" ");
    const counts: Record<string, number> = {};
    for (const ch of sentence.replace(/\s/g, "").toLowerCase()) counts[ch] = (counts[ch] ?? 0) + 1;
    const vowels = Object.entries(counts)
      .filter(([ch]) => "aeiou".includes(ch))
      .reduce((n, [, c]) => n + c, 0);
    return { sentence, reversed: sentence.split("").reverse().join(""), vowels, initials: capitalized.map((w) => w[0]).join(".") };
  }
}

export const cases = [
  ...casesOf(ConditionalWorkflow, [8], [2]),
  ...casesOf(ImmediateConditionalWorkflow, ["on"], ["off"]),
  ...casesOf(ForLoopAccumulatorWorkflow, [["a", "bb", "ccc"]], [[]]),
  ...casesOf(ParallelWorkflow, [3]),
  ...casesOf(GatherListWorkflow, [[1, 2, 3, 4]]),
  ...casesOf(TupleUnpackingWorkflow, [2], [-3]),
  ...casesOf(NestedConditionalsWorkflow, [8, 9], [8, 0], [8, 2], [1, 3], [3, 1]),
  ...casesOf(DataPipelineWorkflow, [["east", "west"]]),
  ...casesOf(StringProcessingWorkflow, [["  Hello", "world ", "HELLO", "", "again"]]),
];
