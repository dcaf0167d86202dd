/**
 * Module customization hooks that let Node run TypeScript without a build step.
 * Registered by `loader/index.ts`; in Node 20 they run on the hooks thread.
 *
 * - `resolve` maps a missing `./x.js` to `./x.ts` (and `.mjs`/`.cjs`/`.jsx` to `.mts`/`.cts`/`.tsx`)
 *   and tries `.ts`, `.tsx`, `.js`, `/index.ts`, `/index.js` for extensionless paths. It only
 *   looks at the disk after Node's own resolver has failed on a relative, absolute or `file:`
 *   specifier; bare package specifiers go straight to `nextResolve`.
 * - `load` compiles `.ts`, `.mts`, `.cts` and `.tsx` files (never `.d.ts`) with swc: types are
 *   stripped, TypeScript 5 standard decorators are lowered, and an inline source map points
 *   stack traces at the `.ts` lines. `.cts` becomes CommonJS; everything else an ES module. The
 *   output is cached on disk (./cache.ts): a file transformed once is never transformed again,
 *   and a process that finds all its files there never loads swc.
 */
import { readFile } from "node:fs/promises";
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import type { LoadHook, ResolveHook } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Options as SwcOptions } from "@swc/core";
import { cachedTransform } from "./cache.js";

type SwcModule = typeof import("@swc/core");

/** The TypeScript extension each JavaScript extension in an import stands for. */
const JS_TO_TS: Readonly<Record<string, readonly string[]>> = {
  ".js": [".ts", ".tsx"],
  ".mjs": [".mts"],
  ".cjs": [".cts"],
  ".jsx": [".tsx"],
};

/** Suffixes tried, in order, for a path with no known extension (`./x`, `./dir`, `./x.service`). */
const EXTENSIONLESS = [".ts", ".tsx", ".js", "/index.ts", "/index.js"] as const;

/** Extensions that mean "this specifier already names a file"; anything else may be extensionless. */
const KNOWN_EXTENSIONS = new Set([...Object.keys(JS_TO_TS), ".ts", ".mts", ".cts", ".tsx", ".json", ".node", ".wasm"]);

const NOT_FOUND_CODES = new Set(["ERR_MODULE_NOT_FOUND", "ERR_UNSUPPORTED_DIR_IMPORT"]);

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  if (!isPathSpecifier(specifier)) return nextResolve(specifier, context);
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (!NOT_FOUND_CODES.has(String((error as { code?: unknown } | null)?.code))) throw error;
    const found = findTypeScriptFile(specifier, context.parentURL);
    if (found === undefined) throw error;
    return nextResolve(found, context);
  }
};

export const load: LoadHook = async (url, context, nextLoad) => {
  const format = typeScriptFormat(url);
  if (format === undefined) return nextLoad(url, context);
  const filename = fileURLToPath(url);
  const code = await readFile(filename, "utf8");
  return { format, source: cachedTransform(code, filename, () => transformTypeScript(code, filename)), shortCircuit: true };
};

function isPathSpecifier(specifier: string): boolean {
  return (
    specifier.startsWith("./") ||
    specifier.startsWith("../") ||
    specifier.startsWith("/") ||
    specifier.startsWith("file:") ||
    specifier === "." ||
    specifier === ".."
  );
}

/** The URL of the TypeScript (or JavaScript) file a missing path specifier stands for, if any. */
function findTypeScriptFile(specifier: string, parentURL: string | undefined): string | undefined {
  const base = parentURL ?? pathToFileURL(`${process.cwd()}/`).href;
  let target: URL;
  try {
    target = new URL(specifier, base);
  } catch {
    return undefined;
  }
  if (target.protocol !== "file:") return undefined;
  const path = target.pathname;
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  const ext = dot > slash ? path.slice(dot) : "";
  const candidates: string[] = [];
  for (const tsExt of JS_TO_TS[ext] ?? []) candidates.push(path.slice(0, dot) + tsExt);
  if (!KNOWN_EXTENSIONS.has(ext)) {
    const stem = path.endsWith("/") ? path.slice(0, -1) : path;
    for (const suffix of EXTENSIONLESS) candidates.push(stem + suffix);
  }
  for (const candidate of candidates) {
    const url = new URL(target.href);
    url.pathname = candidate;
    if (isFile(url)) return url.href;
  }
  return undefined;
}

function isFile(url: URL): boolean {
  try {
    return statSync(url, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

/** The format a `.ts`/`.mts`/`.tsx` (ES module) or `.cts` (CommonJS) URL compiles to; else undefined. */
function typeScriptFormat(url: string): "module" | "commonjs" | undefined {
  if (!url.startsWith("file:")) return undefined;
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  if (/\.d\.[mc]?ts$/.test(path)) return undefined;
  if (path.endsWith(".ts") || path.endsWith(".mts") || path.endsWith(".tsx")) return "module";
  if (path.endsWith(".cts")) return "commonjs";
  return undefined;
}

let swc: SwcModule | undefined;

/** Loaded on first use, so registering the hooks costs nothing until a `.ts` file is imported. */
function loadSwc(): SwcModule {
  swc ??= createRequire(import.meta.url)("@swc/core") as SwcModule;
  return swc;
}

/**
 * Compile one TypeScript file to JavaScript with an inline source map. The format (ES module or
 * CommonJS) and TSX parsing follow the file's extension. A syntax error is thrown as a
 * `SyntaxError` whose message starts with `file:line:column`.
 */
export function transformTypeScript(code: string, filename: string): string {
  const commonjs = filename.endsWith(".cts");
  const options: SwcOptions = {
    filename,
    swcrc: false,
    configFile: false,
    sourceMaps: "inline",
    inputSourceMap: false,
    isModule: true,
    module: { type: commonjs ? "commonjs" : "es6" },
    jsc: {
      parser: { syntax: "typescript", decorators: true, tsx: filename.endsWith(".tsx") },
      transform: { decoratorVersion: "2022-03", useDefineForClassFields: true },
      target: "es2022",
      keepClassNames: true,
      // Without this swc drops `with { type: "json" }` and Node then refuses the JSON import.
      experimental: { keepImportAttributes: true },
    },
  };
  const { transformSync } = loadSwc();
  try {
    return transformSync(code, options).code;
  } catch (error) {
    throw syntaxError(error, filename) ?? error;
  }
}

/** Terminal colour codes (ESC [ ... m) in swc's messages. */
const ANSI_COLOR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/**
 * swc reports errors as a rendered excerpt:
 *
 *   x Expression expected
 *    ,-[/app/bad.ts:2:1]
 *  1 | const a = 1;
 *  2 |   const x = ;
 *    :             ^
 *    `----
 *
 * followed by "Caused by:" and/or a native backtrace. Keep the excerpt, drop the rest, and put the
 * position first: the header gives the line (its column is that of the excerpt, often 1), the
 * caret under the line gives the column.
 */
function syntaxError(error: unknown, filename: string): SyntaxError | undefined {
  const raw = String(error instanceof Error ? error.message : error).replace(ANSI_COLOR, "");
  const report = raw.split(/\n\s*(?:Caused by:|Stack backtrace:)/)[0]!.replace(/\s+$/, "");
  const position = errorPosition(report);
  // No excerpt means no diagnostic about the source (a bad option, say): pass the error on as is.
  if (position === undefined) return undefined;
  const reason = /^\s*[x×]\s+(.+)$/m.exec(report)?.[1]?.trim() ?? report.split("\n")[0]!.trim();
  // No `cause`: swc's error only repeats the excerpt and adds a native backtrace.
  const result = new SyntaxError(`${filename}:${position.line}:${position.column}: ${reason}\n\n${report}\n`);
  (result as SyntaxError & { code: string }).code = "ERR_WAYMARK_TYPESCRIPT_SYNTAX";
  // The frames would only point into this loader; the message already says where the error is.
  result.stack = `${result.name}: ${result.message}`;
  return result;
}

function errorPosition(report: string): { line: number; column: number } | undefined {
  const header = /,-\[(.*):(\d+):(\d+)\]/.exec(report);
  if (!header) return undefined;
  const line = Number(header[2]);
  let column = Number(header[3]);
  const lines = report.split("\n");
  const at = lines.findIndex((l) => new RegExp(`^\\s*${line} \\|(?: |$)`).test(l));
  const caretLine = at === -1 ? undefined : lines[at + 1];
  if (caretLine !== undefined && /^\s*: /.test(caretLine)) {
    const gutter = lines[at]!.indexOf("|");
    const caret = caretLine.indexOf("^");
    if (gutter !== -1 && caret > gutter) column = caret - gutter - 1;
  }
  return { line, column };
}
