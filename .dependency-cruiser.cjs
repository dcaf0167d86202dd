/**
 * The layering of waymark, checked in `npm test` (test/layering.test.ts) and by hand with
 * `npx depcruise -c .dependency-cruiser.cjs core sdk store embedded compiler interpreter child supervisor testing web cli config log loader bench`.
 * Each rule names what it protects; a violation names the import and the rule.
 *
 *   core          the value model every layer speaks; imports nothing of the project
 *   log, loader   leaves
 *   config        reads the environment (core, log)
 *   compiler      source -> IR; no runtime
 *   interpreter   runs IR; no compiler, no SDK
 *   store         data access (core, config, log)
 *   embedded      the embedded PostgreSQL: its process, cluster and users (core, log)
 *   sdk           what users import
 *   child         action processes: no store, no embedded, no pg
 *   web           the web app: no supervisor
 *   supervisor    the worker pool
 *   testing       waymark/testing: workflows in memory on a virtual clock (no store, no processes)
 *   cli, bench    entry points
 */
const FOLDERS = [
  "core",
  "log",
  "loader",
  "config",
  "compiler",
  "interpreter",
  "store",
  "embedded",
  "sdk",
  "child",
  "web",
  "supervisor",
  "testing",
  "cli",
  "bench",
];
const only = (from, allowed, comment) => ({
  name: `${from}-imports-only-${allowed.join("-") || "node"}`,
  comment,
  severity: "error",
  from: { path: `^${from}/` },
  to: { path: `^(${FOLDERS.filter((f) => f !== from && !allowed.includes(f)).join("|")}|test)/` },
});

module.exports = {
  forbidden: [
    // A cycle that leaves its folder ties two layers into one: none at all.
    ...FOLDERS.map((folder) => ({
      name: `no-circular-through-${folder}`,
      comment: `A cycle from ${folder}/ through another folder: the layers would no longer stack.`,
      severity: "error",
      from: { path: `^${folder}/` },
      to: { circular: true, viaSomeNot: `^${folder}/` },
    })),
    {
      name: "no-circular",
      comment:
        "Modules that import each other cannot be understood or loaded on their own. Two groups recurse by the grammar they " +
        "handle, and may: the compiler's statements, expressions, calls and arrow functions contain each other " +
        "(compiler/{function,control,expression,call,names,pattern,workflow}), and so do the interpreter's patterns and expressions " +
        "(interpreter/{bind,evaluate}). Imports of types alone never count.",
      severity: "error",
      from: { pathNot: "^compiler/(function|control|expression|call|names|pattern|workflow)\\.ts$|^interpreter/(bind|evaluate)\\.ts$" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "core-imports-nothing",
      comment: "core/ is the value model every layer shares: it imports nothing but node's own modules.",
      severity: "error",
      from: { path: "^core/" },
      to: { pathNot: "^core/", dependencyTypesNot: ["core"] },
    },
    only("log", [], "log/ is a leaf: everything logs, so it depends on nothing."),
    only("loader", ["core"], "loader/ (the TypeScript module hook) is a leaf."),
    only("config", ["core", "log"], "config/ reads and validates the environment; it knows nothing of the runtime."),
    only("compiler", ["core", "log"], "compiler/ turns source into IR: it imports no runtime (store, supervisor, interpreter, child, web, sdk)."),
    only("interpreter", ["core"], "interpreter/ runs IR: it imports neither the compiler nor the SDK; the IR types and the codec come from core."),
    only("store", ["core", "config", "log"], "store/ is data access only: core, config and log."),
    only(
      "embedded",
      ["core", "log"],
      "embedded/ runs the embedded PostgreSQL (its process, cluster, lock and users): it is handed its directory and logger, so it needs neither config nor the store.",
    ),
    {
      name: "sdk-not-runtime",
      comment: "The SDK is what users import: never the supervisor, the interpreter, the children, the web app or waymark/testing.",
      severity: "error",
      from: { path: "^sdk/" },
      to: { path: "^(supervisor|interpreter|child|web|testing|cli|bench|test)/" },
    },
    {
      name: "child-no-store",
      comment: "Action children never open a database connection: no store/, no embedded/, no pg.",
      severity: "error",
      from: { path: "^child/" },
      to: { path: "^(store|embedded|supervisor|web|testing|cli|bench|test)/|node_modules/(pg|pg-pool|pg-listen)/" },
    },
    {
      name: "testing-in-memory",
      comment:
        "waymark/testing runs workflows in memory, in the test's own process: it shares the compiler, the interpreter, core and the SDK's checks, " +
        "and never reaches Postgres or other processes (no store/, embedded/, supervisor/, child/, web/, pg).",
      severity: "error",
      from: { path: "^testing/" },
      to: { path: "^(store|embedded|supervisor|child|web|cli|bench|test)/|node_modules/(pg|pg-pool|pg-listen)/" },
    },
    {
      name: "nothing-runs-on-testing",
      comment: "waymark/testing is for users' tests (and its bench): no part of the runtime imports it.",
      severity: "error",
      from: { path: "^(core|log|loader|config|compiler|interpreter|store|embedded|sdk|child|web|supervisor|cli)/" },
      to: { path: "^testing/" },
    },
    {
      name: "web-not-supervisor",
      comment: "The web app runs on its own (waymark web) as well as inside a supervisor: it never imports the supervisor.",
      severity: "error",
      from: { path: "^web/" },
      to: { path: "^(supervisor|child|testing|cli|bench|test)/" },
    },
    {
      name: "supervisor-not-entry-points",
      comment: "The supervisor is a library the CLI and the bench start.",
      severity: "error",
      from: { path: "^supervisor/" },
      to: { path: "^(cli|bench|test)/" },
    },
    {
      name: "no-test-imports",
      comment: "Shipped code never imports the tests.",
      severity: "error",
      from: { path: "^(core|log|loader|config|compiler|interpreter|store|embedded|sdk|child|web|supervisor|testing|cli|bench)/" },
      to: { path: "^test/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/|\\.d\\.ts$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".cjs"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
