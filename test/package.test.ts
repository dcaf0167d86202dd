import test from "ava";
import { execa } from "execa";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { PEER_PACKAGES, peersAvailable } from "../bench/peers.js";
import { ROOT } from "./helpers/supervise.js";

/**
 * What `npm publish` would ship (package.json "files", read by `npm pack --dry-run`: no network,
 * about a second): what users run (the CLI, the SDK and its types, the loader, the migrations,
 * `waymark bench`), not the test suite or the by-hand benches; and nothing the package runs is
 * left out by an exclusion (every relative import of every packed file resolves to a packed file).
 * It reads the built dist/ (npm test builds first).
 */
interface Packed {
  entryCount: number;
  files: Array<{ path: string }>;
}

const PKG = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** Run by hand from a checkout (`node dist/bench/chaos.js`, ...): they need a dev install. */
const BY_HAND = /^dist\/bench\/(chaos[^/]*|claims|pool|stall|child-rss|testing)\.(js|d\.ts|js\.map)$/;

let packed: Promise<Set<string>> | undefined;
function packedFiles(): Promise<Set<string>> {
  packed ??= execa("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT }).then((r) => {
    const [info] = JSON.parse(r.stdout) as Packed[];
    return new Set(info!.files.map((f) => f.path));
  });
  return packed;
}

/** The modules a built file names: static and dynamic imports, re-exports, createRequire()(...) and new URL(..., import.meta.url). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^(?:import|export)\s[\w$*{},\s]*?\bfrom\s*["']([^"']+)["']/gm, // import x, { y } from "z"; export * from "z" (over several lines too)
    /^import\s*["']([^"']+)["']/gm, // import "y"
    /\bimport\(\s*["']([^"']+)["']\s*\)/g, // import("y")
    /\bcreateRequire\([^)]*\)\(\s*["']([^"']+)["']\s*\)/g, // createRequire(import.meta.url)("y")
    /\bnew URL\(\s*["']([^"']+\.js)["']\s*,\s*import\.meta\.url\s*\)/g, // new URL("./child.js", import.meta.url)
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

test("the package holds the CLI, the SDK with its types, waymark/testing, the loader, the migrations and waymark bench", async (t) => {
  const files = await packedFiles();
  for (const f of [
    "package.json",
    "README.md",
    "dist/cli/main.js",
    "dist/sdk/index.js",
    "dist/sdk/index.d.ts",
    "dist/testing/index.js",
    "dist/testing/index.d.ts",
    "dist/loader/register.js",
    "dist/loader/hooks.js",
    "dist/child/main.js",
    "dist/bench/main.js",
    "dist/bench/harness.js",
    "dist/bench/scenarios.js",
    "dist/bench/peers.js",
    "dist/bench/server.js",
    "dist/bench/workflows.js",
  ])
    t.true(files.has(f), `${f} is not in the package`);
  const migrations = readdirSync(path.join(ROOT, "migrations")).filter((f) => f.endsWith(".sql"));
  t.true(migrations.length > 0);
  for (const m of migrations) t.true(files.has(`migrations/${m}`), `migrations/${m} is not in the package`);
  // package.json's bin and exports point at packed files.
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string>; exports: Record<string, unknown> };
  const targets: string[] = [...Object.values(pkg.bin)];
  const walk = (v: unknown): void => {
    if (typeof v === "string") targets.push(v.replace(/^\.\//, ""));
    else if (v && typeof v === "object") for (const x of Object.values(v)) walk(x);
  };
  walk(pkg.exports);
  t.true(targets.includes("dist/sdk/index.d.ts"));
  t.true(targets.includes("dist/testing/index.d.ts"), "waymark/testing is exported with its types");
  for (const target of targets) t.true(files.has(target), `${target} (package.json bin or exports) is not in the package`);
});

test("waymark/testing is a subpath export: by the package's name it resolves to the built module, with its types", async (t) => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { exports: Record<string, unknown> };
  t.deepEqual(pkg.exports["./testing"], { types: "./dist/testing/index.d.ts", default: "./dist/testing/index.js" });
  t.is(import.meta.resolve("waymark/testing"), pathToFileURL(path.join(ROOT, "dist/testing/index.js")).href);
  const testing = (await import("waymark/testing")) as typeof import("waymark/testing");
  t.is(typeof testing.TestEnvironment.create, "function");
});

test("the package leaves out the test suite and the by-hand benches, with their types and maps", async (t) => {
  const files = [...(await packedFiles())];
  t.deepEqual(
    files.filter((f) => f.startsWith("dist/test/")),
    [],
  );
  t.deepEqual(
    files.filter((f) => BY_HAND.test(f) || /^dist\/bench\/(chaos|claims|pool|stall|child-rss|testing)/.test(f)),
    [],
  );
  t.deepEqual(
    files.filter((f) => !/^(dist\/|migrations\/|package\.json$|README\.md$|LICENSE)/.test(f)),
    [],
    "only dist/, migrations/ and npm's own files",
  );
});

test("every import of every packed module resolves: relative ones to a packed file, bare ones to a dependency", async (t) => {
  const files = await packedFiles();
  const unresolved: string[] = [];
  const undeclared: string[] = [];
  const builtins = new Set(builtinModules);
  let checked = 0;
  for (const file of files) {
    const types = file.endsWith(".d.ts");
    if (!file.endsWith(".js") && !types) continue;
    checked++;
    for (const spec of specifiers(readFileSync(path.join(ROOT, file), "utf8"))) {
      if (spec.startsWith(".")) {
        let target = path.posix.join(path.posix.dirname(file), spec);
        if (types) target = target.replace(/\.js$/, ".d.ts");
        if (!files.has(target)) unresolved.push(`${file} -> ${spec}`);
        continue;
      }
      if (types) continue; // types may name @types/* and devDependencies' types (erased)
      if (spec.startsWith("node:") || builtins.has(spec)) continue;
      const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
      // The bench's peers are devDependencies, loaded only when present (bench/peers.ts).
      if (!(name in PKG.dependencies) && !(name in PEER_PACKAGES)) undeclared.push(`${file} -> ${spec}`);
    }
  }
  t.true(checked > 100, `only ${checked} modules checked`);
  t.deepEqual(unresolved, [], "a packed module imports a file the package leaves out");
  t.deepEqual(undeclared, [], "a packed module imports a package that is not a dependency");
});

test("the import patterns find what they are meant to (so the check above cannot pass by matching nothing)", (t) => {
  const found = specifiers(
    [
      `import { a } from "./a.js";`,
      `import {\n  b,\n  c,\n} from "../b.js";`,
      `export { d } from "./d.js";`,
      `export * from "./e.js";`,
      `import "./f.js";`,
      `const m = await import("../g.js");`,
      `swc ??= createRequire(import.meta.url)("@swc/core");`,
      `const CHILD = fileURLToPath(new URL("../child/main.js", import.meta.url));`,
      'const message = `use sleep from "waymark"`;',
    ].join("\n"),
  );
  t.deepEqual(found.sort(), ["../b.js", "../child/main.js", "../g.js", "./a.js", "./d.js", "./e.js", "./f.js", "@swc/core"]);
});

const moduleNotFound = (pkg: string) =>
  Object.assign(new Error(`Cannot find package '${pkg}' imported from ${ROOT}dist/bench/peers.js`), { code: "ERR_MODULE_NOT_FOUND" });

test("an installed waymark's bench skips the peers it cannot load, saying which and how to add them", async (t) => {
  const tried: string[] = [];
  const { available, skipped } = await peersAvailable(async (spec) => {
    tried.push(spec);
    if (spec === "graphile-worker") throw moduleNotFound(spec);
    return {};
  });
  t.deepEqual(tried, ["graphile-worker", "pg-boss"]);
  t.deepEqual([...available], ["pg-boss"]);
  t.deepEqual(skipped, ["graphile-worker is not installed: skipping its peer runs (npm i -D graphile-worker@^0.17 to compare)"]);

  // A real resolution failure, from a module where neither package can be found.
  const dir = await mkdtemp(path.join(os.tmpdir(), "waymark-peers-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, "probe.mjs"), "export const probe = (spec) => import(spec);\n");
  const { probe } = (await import(pathToFileURL(path.join(dir, "probe.mjs")).href)) as { probe: (s: string) => Promise<unknown> };
  const real = await peersAvailable(probe);
  t.deepEqual([...real.available], []);
  t.deepEqual(real.skipped, [
    "graphile-worker is not installed: skipping its peer runs (npm i -D graphile-worker@^0.17 to compare)",
    "pg-boss is not installed: skipping its peer runs (npm i -D pg-boss@^10 to compare)",
  ]);

  // Here (a dev install) both load.
  t.deepEqual([...(await peersAvailable()).available].sort(), ["graphile-worker", "pg-boss"]);
});

test("a peer that is installed but fails to load is an error, not a skip", async (t) => {
  // One of graphile-worker's own dependencies missing: the package is there, the install is broken.
  const broken = Object.assign(new Error("Cannot find package 'pg' imported from /app/node_modules/graphile-worker/dist/index.js"), {
    code: "ERR_MODULE_NOT_FOUND",
  });
  await t.throwsAsync(
    peersAvailable(async () => {
      throw broken;
    }),
    { is: broken },
  );
  await t.throwsAsync(
    peersAvailable(async () => {
      throw new SyntaxError("Unexpected token");
    }),
    { instanceOf: SyntaxError },
  );
});

test("the install hints name the ranges package.json's devDependencies hold", (t) => {
  for (const [pkg, range] of Object.entries(PEER_PACKAGES)) {
    const dev = PKG.devDependencies[pkg];
    t.truthy(dev, `${pkg} is not a devDependency`);
    t.true(dev!.startsWith(range), `${pkg}: the hint says ${range}, package.json ${dev}`);
    t.false(pkg in PKG.dependencies, `${pkg} is a dependency: the skip is then for nothing`);
  }
});
