import { workflow, Workflow } from "waymark";
import { double, echo, fail } from "./actions.js";
import { casesOf } from "./case.js";

@workflow
export class CatchActionErrors extends Workflow {
  async run(kinds: string[]) {
    const seen: unknown[] = [];
    for (const kind of kinds) {
      try {
        await fail(kind, `failed with ${kind}`);
        seen.push("unreachable");
      } catch (e) {
        const err = e as Error & { code?: string; status?: number };
        seen.push({ name: err.name, message: err.message, code: err.code, status: err.status, isError: err instanceof Error });
      }
    }
    try {
      await fail("Quota", "no quota");
    } catch {
      seen.push("caught without a binding");
    }
    try {
      await fail("NetworkError", "down");
    } catch ({ name, message }: any) {
      seen.push(`destructured ${name as string} ${message as string}`);
    }
    return seen;
  }
}

@workflow
export class FinallyCompletions extends Workflow {
  async run(mode: string) {
    const log: string[] = [];
    const result = await this.attempt(mode, log);
    let loops = 0;
    for (let i = 0; i < 3; i++) {
      try {
        if (i === 0) continue;
        if (i === 2) break;
        log.push(`body ${i}`);
      } finally {
        loops++;
        log.push(`finally ${i}`);
      }
    }
    outer: for (const a of [1, 2]) {
      for (const b of [1, 2]) {
        try {
          try {
            if (b === 2) continue outer;
            log.push(`inner ${a}${b}`);
          } finally {
            log.push(`f1 ${a}${b}`);
          }
        } finally {
          log.push(`f2 ${a}${b}`);
        }
      }
    }
    return { result, loops, log };
  }

  async attempt(mode: string, log: string[]) {
    try {
      log.push("try");
      if (mode === "return") return "from try";
      if (mode === "throw") throw new Error("from try");
      if (mode === "action") await fail("Error", "action failed");
      log.push("try end");
    } catch (e) {
      log.push(`catch ${(e as Error).message}`);
      if (mode === "action") return "from catch";
    } finally {
      log.push("finally");
      await double(1);
      if (mode === "override") return "from finally";
    }
    return "after";
  }
}

@workflow
export class NestedTryRethrow extends Workflow {
  async run(depth: number) {
    const log: string[] = [];
    try {
      try {
        try {
          if (depth > 0) throw new RangeError(`depth ${depth}`);
          log.push("no throw");
        } catch (e) {
          log.push(`inner caught ${(e as Error).name}`);
          if (depth > 1) throw new TypeError(`rethrown: ${(e as Error).message}`);
        } finally {
          log.push("inner finally");
        }
      } finally {
        log.push("middle finally");
        if (depth > 2) throw new Error("from finally");
      }
    } catch (e) {
      const err = e as Error;
      log.push(`outer caught ${err.name}: ${err.message}`);
    }
    try {
      try {
        await fail("TypeError", "bad type");
      } catch (e) {
        throw e;
      }
    } catch (e) {
      log.push(`rethrown action error ${(e as Error).name}`);
    }
    return log;
  }
}

@workflow
export class ThrowingWorkflow extends Workflow {
  async run(kind: string) {
    const value = await double(2);
    if (kind === "error") throw new Error(`workflow failed with ${value}`);
    if (kind === "type") throw new TypeError("bad input");
    if (kind === "range") throw new RangeError("out of range");
    if (kind === "custom") {
      const e = new Error("custom failure");
      e.name = "ValidationError";
      throw e;
    }
    if (kind === "action") await fail("NetworkError", "upstream down");
    if (kind === "in-finally") {
      try {
        return "never returned";
      } finally {
        throw new Error("finally wins");
      }
    }
    return `ok ${value}`;
  }
}

@workflow
export class RuntimeErrorsMatchNative extends Workflow {
  async run(which: number) {
    const data: any = await echo({ list: [1, 2], s: "str", n: null, nested: {} });
    try {
      switch (which) {
        case 0:
          return data.missing.prop;
        case 1:
          return data.n.x;
        case 2:
          return data.s.nope();
        case 3:
          return data.nested.fn(1, 2);
        case 4:
          return data.list.at(5)();
        case 5: {
          for (const x of data.nested) return x;
          return "no";
        }
        case 6:
          return [...data.nested];
        case 7:
          return "x" in data.s;
        case 8:
          return 1n + data.list[0];
        case 9:
          return JSON.parse("{bad json");
        case 10: {
          data.missing.set = 1;
          return "set";
        }
        case 11:
          return ([] as number[]).reduce((a, b) => a + b);
        case 12:
          return (5).toFixed(200);
        case 13:
          return data["list"][`x`]();
        case 14:
          return Object.freeze(data.list).push(3);
        case 15:
          return "abc".repeat(-1);
        case 16:
          return new Array(-1);
        case 17:
          return BigInt(1.5);
        case 18: {
          const read = () => later;
          const early = read();
          const later = 1;
          return early + later;
        }
        case 19: {
          const bump = () => counter++;
          bump();
          let counter = 0;
          return counter;
        }
      }
      return "none";
    } catch (e) {
      const err = e as Error;
      return `${err.name}: ${err.message}`;
    }
  }
}

@workflow
export class UncaughtRuntimeError extends Workflow {
  async run(input: { a?: { b: number } }) {
    const v = await echo(input);
    return v.a!.b + 1;
  }
}

export const cases = [
  ...casesOf(CatchActionErrors, [["TypeError", "RangeError", "NetworkError", "Error", "Custom"]]),
  ...casesOf(FinallyCompletions, ["normal"], ["return"], ["throw"], ["action"], ["override"]),
  ...casesOf(NestedTryRethrow, [0], [1], [2], [3]),
  ...casesOf(ThrowingWorkflow, ["error"], ["type"], ["range"], ["custom"], ["action"], ["in-finally"], ["none"]),
  ...Array.from({ length: 20 }, (_, i) => ({ workflow: RuntimeErrorsMatchNative, args: [i] })),
  ...casesOf(UncaughtRuntimeError, [{ a: { b: 1 } }], [{}]),
];
