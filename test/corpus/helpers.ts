import { workflow, Workflow } from "waymark";
import { add, double, echo, fetchUser } from "./actions.js";
import { casesOf } from "./case.js";

const PREFIX = "order";
const LIMITS = { max: 3, min: 1 } as const;
const WEIGHTS = [1, 2, 3];
const RATE = 0.25;
const NEGATIVE = -7;
const GREETING = `hi`;

/** A base class with shared helpers; subclasses inherit and override them. */
export abstract class BaseFlow extends Workflow {
  format(label: string, value: number) {
    return `${PREFIX}:${label}=${value}`;
  }

  async fetchDouble(n: number) {
    return double(n);
  }

  describe() {
    return "base";
  }
}

@workflow
export class HelperMethods extends Workflow {
  async run(items: number[]) {
    const total = this.total(items);
    const scaled = await this.scaleAll(items, 3);
    const withDefault = this.clamp(total);
    const explicit = this.clamp(total, 0, 5);
    const [lo, hi] = this.bounds(items);
    const nested = await this.outer(2);
    const notAwaitedYet = this.scaleAll([1], 2);
    const pair = await Promise.all([this.scaleAll([5], 1), notAwaitedYet]);
    const greeting = this.greet();
    return { total, scaled, withDefault, explicit, lo, hi, nested, pair, greeting };
  }

  total(items: number[]) {
    return items.reduce((a, b) => a + b, 0);
  }

  async scaleAll(items: number[], factor = 2) {
    const out: number[] = [];
    for (const item of items) out.push(await add(item * factor, 0));
    return out;
  }

  clamp(v: number, lo: number = LIMITS.min, hi: number = LIMITS.max * 10) {
    return Math.min(hi, Math.max(lo, v));
  }

  bounds(items: number[]): [number, number] {
    if (items.length === 0) return [0, 0];
    return [Math.min(...items), Math.max(...items)];
  }

  async outer(n: number) {
    const a = await this.inner(n);
    return this.format(a);
  }

  async inner(n: number) {
    return (await double(n)) + 1;
  }

  format(v: number) {
    return `[${v}]`;
  }

  greet(name = GREETING, punctuation = "!") {
    return name + punctuation;
  }
}

@workflow
export class InheritedHelpers extends BaseFlow {
  async run(n: number) {
    const d = await this.fetchDouble(n);
    const text = this.format("d", d);
    return { d, text, who: this.describe() };
  }

  override describe() {
    return "derived";
  }
}

@workflow
export class ModuleConstants extends Workflow {
  async run(n: number) {
    const weighted = WEIGHTS.map((w) => w * n);
    const fee = n * RATE;
    const label = `${PREFIX}-${n}`;
    const within = n >= LIMITS.min && n <= LIMITS.max;
    const adjusted = await add(n, NEGATIVE);
    return { weighted, fee, label, within, adjusted, max: LIMITS.max, greeting: GREETING };
  }
}

@workflow
export class TupleFromHelper extends Workflow {
  async run(ids: string[]) {
    const [active, inactive] = await this.partition(ids);
    const { count, names } = this.stats(active);
    const [first = "none", ...others] = inactive;
    return { active, inactive, count, names, first, others };
  }

  async partition(ids: string[]): Promise<[string[], string[]]> {
    const users = await Promise.all(ids.map((id) => fetchUser(id)));
    const active: string[] = [];
    const inactive: string[] = [];
    for (const u of users) (u.active ? active : inactive).push(u.id);
    return [active, inactive];
  }

  stats(list: string[]) {
    return { count: list.length, names: list.map((id) => id.toUpperCase()) };
  }
}

@workflow
export class HelperErrors extends Workflow {
  async run(n: number) {
    try {
      return await this.validate(n);
    } catch (e) {
      return `caught ${(e as Error).message}`;
    } finally {
      await echo("cleanup");
    }
  }

  async validate(n: number) {
    if (n < 0) throw new RangeError(`negative: ${n}`);
    this.check(n);
    return double(n);
  }

  check(n: number) {
    if (n > 10) throw new Error(`too large: ${n}`);
  }
}

export const cases = [
  ...casesOf(HelperMethods, [[1, 2, 3]], [[]]),
  ...casesOf(InheritedHelpers, [4]),
  ...casesOf(ModuleConstants, [2], [9]),
  ...casesOf(TupleFromHelper, [["u1", "u2", "u3", "u4"]], [["u2"]]),
  ...casesOf(HelperErrors, [3], [-1], [20]),
];
