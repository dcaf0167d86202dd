import test from "ava";
import { execa } from "execa";
import { existsSync, readFileSync, statSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../config/env.js";
import { exposureCheck } from "../web/security.js";
import { CLI, ROOT } from "./helpers/supervise.js";

/**
 * deploy/ works as written: Docker is not here, so this reads deploy/Dockerfile and
 * deploy/compose.yaml the way Docker would and checks that every path, script, command and
 * setting they name exists or holds (relative to the build context compose.yaml gives), then
 * builds deploy/app with its own build script against this checkout's waymark and loads the
 * module the workers are told to load.
 */
const REPO = path.resolve(ROOT);
const DEPLOY = path.join(REPO, "deploy");
const APP = path.join(DEPLOY, "app");

const json = (file: string) => JSON.parse(readFileSync(file, "utf8"));
const ROOT_PKG = json(path.join(ROOT, "package.json")) as { name: string; version: string; bin: Record<string, string>; scripts: Record<string, string> };
const APP_PKG = json(path.join(APP, "package.json")) as { scripts: Record<string, string>; dependencies: Record<string, string> };

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** A Dockerfile's instructions: comments dropped, `\` continuations joined. */
function dockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split("\n").forEach((raw, i) => {
    if (!pending && /^\s*(#|$)/.test(raw)) return;
    const continued = /\\\s*$/.test(raw);
    const piece = raw.replace(/\\\s*$/, "").trim();
    pending = pending ? { text: `${pending.text} ${piece}`, line: pending.line } : { text: piece, line: i + 1 };
    if (continued) return;
    const m = /^(\w+)\s+(.*)$/.exec(pending.text)!;
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: pending.line });
    pending = undefined;
  });
  return out;
}

/** `["a", "b"]` (exec form) or a shell string. */
const words = (args: string): string[] => (args.startsWith("[") ? (JSON.parse(args) as string[]) : args.split(/\s+/));

interface Stage {
  name: string;
  workdir: string;
  env: Record<string, string>;
  /** Absolute paths that exist in the stage (files or folders), and for copied files their source in the context. */
  paths: Map<string, string | undefined>;
}

const has = (stage: Stage, p: string) => [...stage.paths.keys()].some((k) => p === k || p.startsWith(`${k}/`));

/** The build context of compose.yaml's services, and the Dockerfile, modelled: returns the final stage and what it found wrong. */
function dockerBuild(context: string, file: string): { stages: Stage[]; problems: string[]; cmd: string[] } {
  const problems: string[] = [];
  const stages: Stage[] = [];
  const ignore = existsSync(`${file}.dockerignore`)
    ? readFileSync(`${file}.dockerignore`, "utf8")
        .split("\n")
        .filter((l) => l.trim() && !l.startsWith("#"))
    : [];
  const ignored = (p: string) =>
    ignore.some((pattern) => (pattern.startsWith("**/") ? p.split("/").includes(pattern.slice(3)) : p === pattern || p.startsWith(`${pattern}/`)));
  let stage: Stage | undefined;
  let cmd: string[] = [];
  const at = (s: Stage, p: string) => path.posix.resolve(s.workdir, p);
  /** The context file a path of the stage was copied from. */
  const source = (s: Stage, p: string) => s.paths.get(at(s, p));
  for (const ins of dockerfile(readFileSync(file, "utf8"))) {
    const where = `${path.relative(ROOT, file)}:${ins.line} ${ins.op} ${ins.args}`;
    if (ins.op === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      stage = { name: m[2] ?? String(stages.length), workdir: "/", env: {}, paths: new Map() };
      stages.push(stage);
      continue;
    }
    if (!stage) throw new Error(`${where}: before FROM`);
    const s = stage;
    switch (ins.op) {
      case "WORKDIR":
        s.workdir = at(s, ins.args); // an empty folder: paths holds what is in it
        break;
      case "ENV": {
        const m = /^(\w+)=(.*)$/.exec(ins.args)!;
        s.env[m[1]!] = m[2]!;
        break;
      }
      case "COPY": {
        const parts = words(ins.args);
        const from = parts.find((p) => p.startsWith("--from="))?.slice("--from=".length);
        const [dest, ...sources] = parts.filter((p) => !p.startsWith("--")).reverse();
        const target = at(s, dest!);
        for (const src of sources.reverse()) {
          const into = dest!.endsWith("/") || sources.length > 1 ? path.posix.join(target, path.posix.basename(src)) : target;
          if (from !== undefined) {
            const other = stages.find((o) => o.name === from);
            if (!other) problems.push(`${where}: no stage ${from} before it`);
            else if (!has(other, src)) problems.push(`${where}: stage ${from} makes no ${src}`);
            else for (const [k, v] of other.paths) if (k === src || k.startsWith(`${src}/`)) s.paths.set(into + k.slice(src.length), v);
            s.paths.set(into, other?.paths.get(src));
          } else {
            if (!existsSync(path.join(context, src))) problems.push(`${where}: ${src} is not in the build context ${path.relative(ROOT, context) || "."}`);
            if (ignored(src)) problems.push(`${where}: ${src} is left out of the context by ${path.relative(ROOT, file)}.dockerignore`);
            s.paths.set(into, path.join(context, src));
          }
        }
        break;
      }
      case "RUN":
        for (const command of ins.args.split("&&").map((c) => c.trim().split(/\s+/))) {
          const problem = run(s, command, source);
          if (problem) problems.push(`${where}: ${command.join(" ")}: ${problem}`);
        }
        break;
      case "CMD":
        cmd = words(ins.args);
        break;
      case "USER":
      case "EXPOSE":
        break;
      default:
        problems.push(`${where}: an instruction this test does not model`);
    }
  }
  return { stages, problems, cmd };
}

/** What one command of a RUN needs and makes (undefined, or what is wrong). */
function run(s: Stage, [cmd, ...args]: string[], source: (s: Stage, p: string) => string | undefined): string | undefined {
  const pkgFile = source(s, "package.json");
  if (cmd === "npm" && !pkgFile) return `no package.json in ${s.workdir}`;
  const pkg = pkgFile ? (json(pkgFile) as { name: string; version: string; scripts?: Record<string, string> }) : undefined;
  const sub = args[0];
  if (cmd === "npm" && (sub === "ci" || sub === "install")) {
    if (sub === "ci" && !source(s, "package-lock.json")) return "npm ci without a package-lock.json";
    s.paths.set(path.posix.join(s.workdir, "node_modules"), undefined);
    return undefined;
  }
  if (cmd === "npm" && sub === "prune") return has(s, path.posix.join(s.workdir, "node_modules")) ? undefined : "nothing installed to prune";
  if (cmd === "npm" && sub === "run") {
    const script = pkg!.scripts?.[args[1]!];
    if (!script) return `${path.relative(ROOT, pkgFile!)} has no script ${args[1]}`;
    const tsc = /^tsc -p (\S+)$/.exec(script);
    if (!tsc) return `the script is ${script}: this test only models tsc -p`;
    const config = source(s, tsc[1]!);
    if (!config) return `no ${tsc[1]} in ${s.workdir}`;
    const { compilerOptions, include } = json(config) as { compilerOptions: { outDir: string; rootDir: string }; include: string[] };
    for (const folder of include) {
      // test/run.ts is the test runner: not copied, not packed (tsc skips an include that matches nothing).
      if (folder !== "test/run.ts" && !has(s, path.posix.join(s.workdir, folder))) return `${tsc[1]} includes ${folder}, which is not copied`;
    }
    s.paths.set(path.posix.join(s.workdir, compilerOptions.outDir), `${path.dirname(config)}/${compilerOptions.rootDir}`);
    return undefined;
  }
  if (cmd === "npm" && sub === "pack") {
    const dest = args[args.indexOf("--pack-destination") + 1]!;
    if (!has(s, path.posix.join(s.workdir, "dist"))) return "packs before the build";
    s.paths.set(path.posix.join(dest, `${pkg!.name}-${pkg!.version}.tgz`), undefined);
    return undefined;
  }
  if (cmd === "npm" && sub === "pkg" && args[1] === "set") {
    const file = /=file:(\S+)$/.exec(args[2]!)?.[1];
    return file && !has(s, file) ? `${file} is not there` : undefined;
  }
  if (cmd === "mv") {
    const [from, to] = args;
    const glob = new RegExp(`^${from!.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
    const found = [...s.paths.keys()].find((k) => glob.test(k));
    if (!found) return `nothing matches ${from}`;
    s.paths.delete(found);
    s.paths.set(to!, undefined);
    return undefined;
  }
  return "a command this test does not model";
}

/** The source a file of the image is compiled from (dist/x.js from deploy/app/src/x.ts), or what is wrong. */
function builtFrom(final: Stage, file: string): { src?: string; problem?: string } {
  const target = path.posix.resolve(final.workdir, file);
  if (!has(final, target)) return { problem: `${target} is not in the image` };
  const out = [...final.paths].find(([k, v]) => v && target.startsWith(`${k}/`) && statSync(v).isDirectory());
  if (!out) return { problem: `${target} is in the image but not built from a source folder` };
  const src = path.join(out[1]!, target.slice(out[0].length + 1).replace(/\.js$/, ".ts"));
  return existsSync(src) ? { src } : { problem: `${file} is built from ${path.relative(ROOT, src)}, which does not exist` };
}

const COMPOSE_FILE = path.join(DEPLOY, "compose.yaml");

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  ports?: string[];
}

const compose = parseYaml(readFileSync(COMPOSE_FILE, "utf8")) as { services: Record<string, Service> };

/** `${NAME:-default}` as compose reads it with NAME unset. */
const interpolate = (v: string) => v.replace(/\$\{\w+:-([^}]*)\}/g, "$1");

test("compose.yaml: postgres, the app, the workers and the web app, from one image built from the repository root", (t) => {
  t.deepEqual(Object.keys(compose.services).sort(), ["app", "postgres", "web", "workers"]);
  for (const name of ["app", "workers", "web"]) {
    const s = compose.services[name]!;
    t.truthy(s.build, `${name} has no build`);
    t.is(path.resolve(DEPLOY, s.build!.context), REPO, `${name}: the build context is not the repository root`);
    t.is(path.resolve(REPO, s.build!.dockerfile), path.join(DEPLOY, "Dockerfile"));
    t.deepEqual(Object.keys(s.depends_on ?? {}), ["postgres"]);
    for (const dep of Object.keys(s.depends_on ?? {})) t.truthy(compose.services[dep], `${name} depends on ${dep}, which is not a service`);
  }
});

test("the Dockerfile copies what exists in its context, runs scripts that exist, and makes what the services run", (t) => {
  const s = compose.services.app!;
  const context = path.resolve(DEPLOY, s.build!.context);
  const { stages, problems, cmd } = dockerBuild(context, path.resolve(context, s.build!.dockerfile));
  t.deepEqual(problems, []);
  const final = stages.at(-1)!;
  // Each service's command, as the final stage runs it (its WORKDIR, its PATH).
  const binDirs = (final.env.PATH ?? "").split(":").filter((d) => d.startsWith("/"));
  for (const [name, service] of Object.entries(compose.services)) {
    if (!service.build) continue;
    const [bin, ...args] = service.command ?? cmd;
    if (bin === "node") {
      // A script the app's build writes: dist/x.js from deploy/app/src/x.ts.
      t.is(builtFrom(final, args[0]!).problem, undefined, name);
    } else {
      // A package's bin, found on the image's PATH: waymark's, which the app depends on.
      t.is(bin, "waymark", `${name}: runs ${bin}`);
      t.true(binDirs.includes(path.posix.join(final.workdir, "node_modules", ".bin")), `${name}: node_modules/.bin is not on the image's PATH`);
      t.true(has(final, path.posix.join(final.workdir, "node_modules")));
      t.truthy(ROOT_PKG.bin.waymark);
      t.truthy(APP_PKG.dependencies.waymark, "deploy/app does not depend on waymark");
    }
    // The modules the workers load are built into the image too.
    for (const module of (service.environment?.WAYMARK_USER_MODULE ?? "").split(",").filter(Boolean))
      t.is(builtFrom(final, module.trim()).problem, undefined, `${name}: WAYMARK_USER_MODULE`);
  }
  t.deepEqual(cmd, ["node", "dist/server.js"]);
});

test("the services' commands and settings are ones waymark accepts, and their database is the postgres service", async (t) => {
  const pg = compose.services.postgres!.environment!;
  for (const [name, service] of Object.entries(compose.services)) {
    if (!service.build) continue;
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
    // Unknown or malformed WAYMARK_* settings throw here, as they would in the container.
    const { config } = loadConfig(env);
    const url = new URL(env.WAYMARK_DATABASE_URL!);
    t.is(url.hostname, "postgres", name);
    t.is(decodeURIComponent(url.username), pg.POSTGRES_USER);
    t.is(decodeURIComponent(url.password), pg.POSTGRES_PASSWORD);
    t.is(url.pathname, `/${pg.POSTGRES_DB}`);
    const [bin, command] = service.command ?? ["node"];
    if (bin !== "waymark") continue;
    const help = await execa(process.execPath, [CLI, command!, "--help"], { reject: false });
    t.is(help.exitCode, 0, `${name}: waymark ${command} --help: ${help.stderr}`);
    t.is(help.stdout.split("\n")[0], `waymark ${command}`, `${name}: waymark has no command ${command}`);
    if (command === "supervise") t.true(config.userModules.length > 0, "the workers load no module");
    if (command === "web") {
      t.notThrows(() => exposureCheck({ addr: config.webappAddr, token: config.webappToken, insecure: config.webappInsecure }));
      t.true(config.webappAddr.startsWith("0.0.0.0:"), "in a container the web app listens beyond loopback");
      t.true((config.webappToken ?? "").length >= 16, "the web app's token (or its placeholder) is a long one");
      const port = config.webappAddr.split(":")[1];
      t.true(
        (service.ports ?? []).some((p) => p.endsWith(`:${port}`)),
        `web: port ${port} is not published`,
      );
    }
  }
  const app = compose.services.app!;
  t.true(
    (app.ports ?? []).some((p) => p.endsWith(`:${app.environment?.PORT ?? "8000"}`)),
    "the app's port is not published",
  );
});

test("deploy/app builds with its own build script against this waymark, and the workers' module registers its workflow", async (t) => {
  // A copy of the app whose node_modules holds this checkout as `waymark` (the built package,
  // dist/: what `npm install waymark` gives) and the repository's TypeScript and types.
  const dir = await mkdtemp(path.join(os.tmpdir(), "waymark-deploy-app-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const f of ["package.json", "tsconfig.json", "src"]) await cp(path.join(APP, f), path.join(dir, f), { recursive: true });
  await mkdir(path.join(dir, "node_modules", ".bin"), { recursive: true });
  await symlink(ROOT, path.join(dir, "node_modules", "waymark"), "dir");
  await symlink(path.join(ROOT, "node_modules", "typescript"), path.join(dir, "node_modules", "typescript"), "dir");
  await symlink(path.join(ROOT, "node_modules", "@types"), path.join(dir, "node_modules", "@types"), "dir");
  await symlink(path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), path.join(dir, "node_modules", ".bin", "tsc"));
  const build = await execa("npm", ["run", "build"], { cwd: dir, reject: false });
  t.is(build.exitCode, 0, `${build.stdout}\n${build.stderr}`);
  // What the Dockerfile's CMD and compose.yaml's WAYMARK_USER_MODULE name.
  t.true(existsSync(path.join(dir, "dist", "server.js")));
  t.true(existsSync(path.join(dir, "dist", "workflows.js")));
  // The built module loads, as the workers load it, and its workflow compiles: its graph names the actions.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WAYMARK_")));
  const graph = await execa(
    process.execPath,
    [path.join(dir, "node_modules", "waymark", ROOT_PKG.bin.waymark!), "visualize", "dist/workflows.js", "CheckoutWorkflow"],
    {
      cwd: dir,
      env,
      extendEnv: false,
      reject: false,
    },
  );
  t.is(graph.exitCode, 0, graph.stderr);
  t.regex(graph.stdout, /priceLine/);
  t.regex(graph.stdout, /sendReceipt/);
});

test("the Grafana dashboard queries only metrics the README documents, and every documented metric is on it", (t) => {
  const dashboard = json(path.join(DEPLOY, "grafana-dashboard.json")) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  const readme = readFileSync(path.join(REPO, "README.md"), "utf8");
  const documented = new Set([...readme.matchAll(/^\| `(waymark_[a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => m[1]!));
  t.true(documented.size >= 12, `${documented.size} metrics documented`);
  const used = new Set<string>();
  for (const p of dashboard.panels)
    for (const { expr } of p.targets) for (const [name] of expr.matchAll(/waymark_[a-z_]+/g)) used.add(name.replace(/_(bucket|count|sum)$/, ""));
  for (const name of used) t.true(documented.has(name), `${name} (on the dashboard) is documented`);
  for (const name of documented) t.true(used.has(name), `${name} (documented) is on the dashboard`);
});
