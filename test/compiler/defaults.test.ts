import test from "ava";
import { action, actionContext, BackoffPolicy, RegistrationError, RetryPolicy, workflow, Workflow } from "waymark";
import { definitionOf } from "../../sdk/definition.js";
import { runMachine } from "../helpers/machine.js";

/**
 * Workflow-wide action defaults (`retry`, `backoff`, `timeoutMs` instance properties): read and
 * validated at decoration, stored in the IR (and so in the version hash), applied by the machine
 * however it was built (started or restored from a snapshot).
 */

const attemptsSeen: Record<string, number[]> = {};
export const defaultsFlaky = action("defaults.flaky", async function flaky(key: string, succeedOn: number) {
  const { attempt } = actionContext();
  (attemptsSeen[key] ??= []).push(attempt);
  if (attempt < succeedOn) {
    const e = new Error(`${key} try ${attempt}`);
    e.name = "NetworkError";
    throw e;
  }
  return `${key} ok on ${attempt}`;
});

const WithDefaults = workflow(
  class WithDefaults extends Workflow {
    async run(key: string) {
      return await defaultsFlaky(key, 3);
    }
    // Below run(): the body's positions are those of WithoutDefaults.
    retry = new RetryPolicy({ attempts: 4, exceptionTypes: ["NetworkError"] });
    backoff = new BackoffPolicy({ baseDelayMs: 1000, multiplier: 2, maxDelayMs: 5000 });
    timeoutMs = 60_000;
  },
);

const WithoutDefaults = workflow(
  class WithoutDefaults extends Workflow {
    async run(key: string) {
      return await defaultsFlaky(key, 3);
    }
  },
);

test("the defaults are validated, normalised and stored in the IR", (t) => {
  const { ir } = definitionOf(WithDefaults).compiled;
  t.deepEqual(ir.defaults, {
    retry: { attempts: 4, exceptionTypes: ["NetworkError"] },
    backoff: { baseDelayMs: 1000, multiplier: 2, maxDelayMs: 5000, jitter: false },
    timeoutMs: 60_000,
  });
  t.false("defaults" in definitionOf(WithoutDefaults).compiled.ir, "a class without defaults stores none (its hash is unchanged)");
});

test("the defaults are part of the version hash", (t) => {
  const a = definitionOf(WithDefaults).compiled;
  const b = definitionOf(WithoutDefaults).compiled;
  t.deepEqual(a.ir.fns, b.ir.fns, "the same body");
  t.not(a.hash, b.hash);
});

const Applied = workflow(
  class Applied extends Workflow {
    retry = { attempts: 3 };
    async run(key: string) {
      const a = await defaultsFlaky(`${key}-a`, 3);
      let b = "";
      try {
        b = await this.runAction(defaultsFlaky(`${key}-b`, 2), { retry: { attempts: 1 } });
      } catch (e) {
        b = `override: ${(e as Error).message}`;
      }
      let c = "";
      try {
        c = await defaultsFlaky(`${key}-c`, 4);
      } catch (e) {
        c = `exhausted: ${(e as Error).message}`;
      }
      return [a, b, c];
    }
  },
);

test("a default retry applies to plain calls; a runAction option overrides it (machine, restored every step)", async (t) => {
  t.deepEqual(await runMachine(Applied, ["m"]), ["m-a ok on 3", "override: m-b try 1", "exhausted: m-c try 3"]);
  t.deepEqual(attemptsSeen["m-a"], [1, 2, 3]);
  t.deepEqual(attemptsSeen["m-b"], [1]);
  t.deepEqual(attemptsSeen["m-c"], [1, 2, 3]);
});

function decorate(make: () => unknown): RegistrationError {
  const e = (() => {
    try {
      make();
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  if (!(e instanceof RegistrationError)) throw new Error(`expected a RegistrationError, got ${String(e)}`);
  return e;
}

test("a bad default is an error at decoration that names the field, the problem and the place", (t) => {
  const retry = decorate(() =>
    workflow(
      class BadRetry extends Workflow {
        retry = { attempts: 0 };
        async run() {
          return 1;
        }
      },
    ),
  );
  t.regex(
    retry.message,
    /^workflow BadRetry: its `retry` property \(the default for every action call\) is invalid: retry\.attempts must be a number >= 1, got 0 \(at .*defaults\.test\.ts:\d+:9\)$/,
  );

  const timeout = decorate(() =>
    workflow(
      class BadTimeout extends Workflow {
        timeoutMs = -5;
        async run() {
          return 1;
        }
      },
    ),
  );
  t.regex(timeout.message, /workflow BadTimeout: its `timeoutMs` property .* timeoutMs must be a number >= 1, got -5/);

  const backoff = decorate(() =>
    workflow(
      class BadBackoff extends Workflow {
        backoff = { baseDelayMs: 10, factor: 2 };
        async run() {
          return 1;
        }
      },
    ),
  );
  t.regex(
    backoff.message,
    /workflow BadBackoff: its `backoff` property .* unknown backoff option "factor" \(allowed: baseDelayMs, multiplier, maxDelayMs, jitter\)/,
  );

  const ctor = decorate(() =>
    workflow(
      class Throws extends Workflow {
        constructor() {
          super();
          throw new Error("no");
        }
        async run() {
          return 1;
        }
      },
    ),
  );
  t.regex(ctor.message, /workflow Throws: constructing Throws \(to read its action defaults: retry, backoff, timeoutMs\) threw Error: no/);
});
