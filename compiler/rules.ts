/**
 * The determinism rules in one table. A workflow body is compiled once and run by the
 * supervisor from its graph; anything whose result would differ between runs, or that does I/O,
 * belongs in an action. Each rule has a stable id (the error's `rule`), a message and a hint.
 */
export interface Rule {
  id: string;
  message: string;
  hint: string;
}

function rule(id: string, message: string, hint: string): Rule {
  return { id, message, hint };
}

/** Calls and reads refused by name: the global path as written in the source. */
export const FORBIDDEN_GLOBALS: ReadonlyArray<{ match: RegExp; rule: Rule }> = [
  { match: /^Date\.now$/, rule: rule("nondeterministic", "`Date.now()` is not deterministic", "move it into an action, or pass the time in as an argument") },
  { match: /^Math\.random$/, rule: rule("nondeterministic", "`Math.random()` is not deterministic", "move it into an action that returns the random value") },
  {
    match: /^(crypto|globalThis\.crypto)(\.|$)/,
    rule: rule("nondeterministic", "`crypto` is not deterministic", "generate ids and random values in an action"),
  },
  { match: /^performance(\.|$)/, rule: rule("nondeterministic", "`performance` reads the clock, which is not deterministic", "measure time in an action") },
  {
    match: /^process(\.|$)/,
    rule: rule(
      "process-access",
      "`process` is not available in a workflow: the body runs on a supervisor, not in your process",
      "read environment variables and process state in an action, or pass them in as arguments",
    ),
  },
  {
    match: /^(fetch|XMLHttpRequest|WebSocket)$/,
    rule: rule(
      "io",
      "network I/O cannot run in a workflow body",
      "make the request in an action: `const res = await fetchJson(url)` with `fetchJson = action(...)`",
    ),
  },
  {
    match: /^(setTimeout|setInterval|setImmediate|queueMicrotask|clearTimeout|clearInterval)$/,
    rule: rule("timer", "timers cannot run in a workflow body", 'use `await sleep(ms)` from "waymark" (a durable sleep)'),
  },
  {
    match: /^(require|module|exports|__dirname|__filename)$/,
    rule: rule("module-access", "module loading cannot happen in a workflow body", "import what you need at the top of the module; do the work in an action"),
  },
  { match: /^(eval|Function)$/, rule: rule("eval", "`eval` and `Function` cannot run in a workflow body", "write the logic directly, or in an action") },
  {
    // console.log/info/warn/error/debug called directly are compiled to log records (call.ts).
    match: /^console(\.|$)/,
    rule: rule(
      "console",
      "only `console.log`, `console.info`, `console.warn`, `console.error` and `console.debug` can be used in a workflow body, called directly",
      'call one of those (`console.log("charged", orderId)`): the record goes to the supervisor\'s log, once per executed step; other console output belongs in an action',
    ),
  },
  {
    match: /^(globalThis|window|global|self)(\.|$)/,
    rule: rule("global-access", "global objects are not available in a workflow body", "pass what you need in as arguments, or use an action"),
  },
  {
    match: /^(Intl|Atomics|SharedArrayBuffer|WeakMap|WeakSet|WeakRef|FinalizationRegistry|Proxy|Reflect|Symbol|Promise)(\.|$)/,
    rule: rule(
      "unsupported-builtin",
      "this built-in cannot be used in a workflow body",
      "use it in an action; workflows can use plain data, Math, JSON, Object, Array, String and Number helpers",
    ),
  },
];

export const RULES = {
  newDateNow: rule(
    "nondeterministic",
    "`new Date()` without arguments reads the clock, which is not deterministic",
    "move it into an action, or build the date from a value: `new Date(isoString)`",
  ),
  unknownCallee: rule(
    "unknown-callee",
    "calling a function that is not an action or a known pure built-in",
    "declare it with `action()` so it runs in a worker, or make it a helper method of the workflow class",
  ),
  unknownIdentifier: rule(
    "unknown-identifier",
    "this name is not a workflow variable, an action or a known built-in",
    "pass values in as workflow arguments, or compute them in an action",
  ),
  actionNotRegistered: rule(
    "action-not-registered",
    "this action is not registered yet",
    "declare actions (with `action()`) above the workflow class, or import them from their module",
  ),
  ambiguousAction: rule(
    "ambiguous-action",
    "two registered actions match this name",
    'give the actions distinct explicit names: `action("billing.charge", fn)`',
  ),
  unsupportedSyntax: rule(
    "unsupported-syntax",
    "this syntax is not supported in a workflow body",
    'move this logic into an action, or rewrite it with the supported statements (see "What you can write in a workflow" in the README)',
  ),
  classInWorkflow: rule(
    "class",
    "classes cannot be declared in a workflow body",
    "declare classes at module level and use them inside actions; workflows pass plain data",
  ),
  nestedFunction: rule(
    "nested-function",
    "function declarations and `function` expressions cannot appear in a workflow body",
    "use an arrow function, or a helper method on the workflow class",
  ),
  generator: rule("generator", "generators cannot run in a workflow body", "build the list with a loop or array methods"),
  withStatement: rule("with", "`with` is not supported", "refer to the object's properties directly"),
  thisAccess: rule(
    "this-access",
    "workflow instances hold no state: a workflow can only call `this.runAction(...)` and its helper methods on `this`",
    "keep state in local variables, or pass it in as an argument",
  ),
  recursion: rule(
    "recursion",
    "helper methods cannot call themselves (directly or through other helpers)",
    "write the recursion as a loop, or split the work into child workflows",
  ),
  dynamicImport: rule("dynamic-import", "`import()` cannot run in a workflow body", "import modules statically at the top of the file"),
  awaitNonAction: rule(
    "await-non-action",
    "only actions, `sleep`, the workflow's own async helpers and arrow functions, and `Promise.all`/`allSettled` of those can be awaited",
    "declare the function with `action()` (it then runs in a worker and its result is recorded), or make it an async helper method and call `await this.helper(...)`",
  ),
  asyncCallback: rule(
    "async-callback",
    "an async callback passed to this method would not be awaited",
    "use `await Promise.all(items.map(async (item) => ...))` to run the callbacks and wait for them",
  ),
  awaitInCallback: rule(
    "await-in-callback",
    "`await` can only be used in the workflow's own async functions",
    "use `await Promise.all(items.map(async (item) => ...))`",
  ),
  forAwait: rule("for-await", "`for await` is not supported", "use `for...of` over an array, awaiting inside the loop"),
  promiseMethod: rule(
    "promise-method",
    "only `Promise.all` and `Promise.allSettled` can be used",
    "express races and timeouts with action options (`timeoutMs`) instead",
  ),
  promiseChain: rule(
    "promise-chain",
    "`.then()`, `.catch()` and `.finally()` cannot be used on a workflow's promises",
    "use `await` with `try`/`catch`/`finally`: `try { const v = await act(x); } catch (e) { ... }`",
  ),
  constAssign: rule("const-assign", "assignment to a constant", "declare the variable with `let`"),
  runActionShape: rule(
    "run-action",
    "`this.runAction` takes an action call and an optional options object",
    "write `await this.runAction(myAction(arg), { retry: ..., backoff: ..., timeoutMs: ... })`",
  ),
  sleepShape: rule("sleep", "`sleep` takes a duration in milliseconds", "write `await sleep(60_000)`"),
  eventShape: rule(
    "event",
    "this call of the events API does not have its shape",
    'write `await waitForEvent("name", { timeoutMs })`, `await publish("key", value)` or `await sendEvent(instanceId, "name", payload, { idempotencyKey })`',
  ),
  childShape: rule(
    "child-workflow",
    "a child workflow is started with `await new Child().run(...args)` or `await new Child().start([args], { idempotencyKey })`",
    "call `run` or `start` on a new instance of the workflow class, in one expression, without constructor arguments",
  ),
  handleInWorkflow: rule(
    "handle",
    "instance handles are for the app, not for workflow bodies",
    "inside a workflow, send with `await sendEvent(instanceId, name, payload)`, or start a child workflow and await it",
  ),
  superCall: rule("super", "`super` cannot be used in a workflow body", "call inherited helpers through `this.helper(...)`"),
  missingRun: rule("missing-run", "the workflow class has no `async run(...)` method", "add `async run(...args) { ... }` to the class"),
  sourceUnavailable: rule(
    "source-unavailable",
    "the workflow's source could not be read",
    "make sure the module is loaded from a file (not eval'd or bundled into one line)",
  ),
  clockValue: rule(
    "nondeterministic",
    "`Date` held as a value could read the clock later (`const Clock = Date; Clock.now()`)",
    "use `Date` where it stands (`new Date(ms)`, `Date.UTC(...)`, `x instanceof Date`), and read the time in an action",
  ),
  builtinValue: rule(
    "unsupported-syntax",
    "`Math` and `JSON` are namespaces, not values a workflow can hold",
    "call their members directly (`Math.max(a, b)`, `JSON.stringify(x)`), or take the ones you need: `const { max } = Math`",
  ),
  builtinMember: rule(
    "unsupported-syntax",
    "only the pure built-ins, named as written in the source, can be used in a workflow",
    "call the member directly by name (`Math.max(...)`, `Object.keys(x)`); anything else belongs in an action",
  ),
  builtinChange: rule("unsupported-syntax", "built-ins cannot be changed in a workflow body", "keep your own values in variables and objects of the workflow"),
  logShape: rule(
    "log",
    '`log` from "waymark" is called by its level: `log.debug(...)`, `log.info(...)`, `log.warn(...)`, `log.error(...)` or `log.log(...)`',
    'call one of its levels directly: `log.info("charged", orderId)`',
  ),
  updateNonVariable: rule(
    "unsupported-syntax",
    "this assignment target is not supported",
    "assign to a variable, a property (`obj.x`) or an element (`arr[i]`)",
  ),
};
