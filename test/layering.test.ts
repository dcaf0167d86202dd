import test from "ava";
import { execa } from "execa";
import { fileURLToPath } from "node:url";

/**
 * The layering of the code base (.dependency-cruiser.cjs says which folder may import which, and
 * why): a violation fails here with the import and the rule it breaks. Then the house drawn from
 * the imports, folder by folder, must have no cycle.
 */
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const FOLDERS = [
  "core",
  "sdk",
  "store",
  "embedded",
  "compiler",
  "interpreter",
  "child",
  "supervisor",
  "testing",
  "web",
  "cli",
  "config",
  "log",
  "loader",
  "bench",
];
const DEPCRUISE = fileURLToPath(new URL("../node_modules/dependency-cruiser/bin/dependency-cruise.mjs", import.meta.url));

interface Cruise {
  modules: Array<{ source: string; dependencies: Array<{ resolved: string; dependencyTypes: string[] }> }>;
  summary: { violations: Array<{ from: string; to: string; rule: { name: string } }> };
}

test("every import keeps to the layering, and the folders import each other without a cycle", async (t) => {
  const { stdout } = await execa(process.execPath, [DEPCRUISE, "-c", ".dependency-cruiser.cjs", "--output-type", "json", ...FOLDERS], {
    cwd: ROOT,
    reject: false,
  });
  const result = JSON.parse(stdout) as Cruise;
  t.deepEqual(
    result.summary.violations.map((v) => `${v.from} -> ${v.to} breaks ${v.rule.name}`),
    [],
    "see .dependency-cruiser.cjs for what each rule protects",
  );
  const edges = new Map<string, Set<string>>();
  for (const m of result.modules) {
    const from = m.source.split("/")[0]!;
    if (!FOLDERS.includes(from)) continue;
    for (const d of m.dependencies) {
      const to = d.resolved.split("/")[0]!;
      if (to !== from && FOLDERS.includes(to) && !d.dependencyTypes.includes("type-only")) {
        if (!edges.has(from)) edges.set(from, new Set());
        edges.get(from)!.add(to);
      }
    }
  }
  // A depth-first search for a back edge: a cycle between folders.
  const state = new Map<string, "open" | "done">();
  const cycle: string[] = [];
  const visit = (f: string, path: string[]): boolean => {
    if (state.get(f) === "done") return false;
    if (state.get(f) === "open") {
      cycle.push(...path.slice(path.indexOf(f)), f);
      return true;
    }
    state.set(f, "open");
    for (const to of edges.get(f) ?? []) if (visit(to, [...path, f])) return true;
    state.set(f, "done");
    return false;
  };
  for (const f of FOLDERS) if (visit(f, [])) break;
  t.deepEqual(cycle, [], `folders import each other in a cycle: ${cycle.join(" -> ")}`);
  t.true(result.modules.length > 100);
});
