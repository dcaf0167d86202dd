/**
 * Source files for the compiler: parsed with swc, cached by path and modification time, with
 * spans turned into line/column and code frames for diagnostics; and `callerFile`, the user
 * module that called into waymark (how a decorator learns which file to compile). swc is loaded
 * on first parse, so a process that never compiles never loads its native binding.
 */
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import type { Module, Span } from "@swc/core";

// Loaded on first parse: processes that never compile (recycled workers) skip the native binding.
let swc: typeof import("@swc/core") | undefined;
function parseSync(...args: Parameters<typeof import("@swc/core").parseSync>) {
  swc ??= createRequire(import.meta.url)("@swc/core") as typeof import("@swc/core");
  return swc.parseSync(...args);
}

/**
 * A parsed source file with the means to turn swc spans into line/column and code frames.
 *
 * swc spans are 1-based byte offsets; `module.span.start` is the first token, after leading
 * comments, and older swc releases accumulated offsets across parses. The version-proof
 * normalisation: base = module.span.start - bytes of leading trivia.
 */
export interface SourceFile {
  file: string;
  text: string;
  ast: Module;
  /** 1-based line and UTF-16 column of a span start. */
  loc(pos: number): { line: number; column: number };
  /** The source text of a span. */
  slice(span: Span): string;
  /** A code frame around a line/column, with a caret. */
  frame(line: number, column: number): string;
}

function leadingTriviaBytes(text: string): number {
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  if (text.startsWith("#!", i)) {
    const nl = text.indexOf("\n", i);
    i = nl === -1 ? text.length : nl;
  }
  for (;;) {
    const c = text[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\v" || c === "\f" || c === "\u00a0" || c === "\ufeff") {
      i++;
    } else if (text.startsWith("//", i)) {
      const nl = text.indexOf("\n", i);
      i = nl === -1 ? text.length : nl;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      i = end === -1 ? text.length : end + 2;
    } else break;
  }
  return Buffer.byteLength(text.slice(0, i), "utf8");
}

export function sourceParse(file: string, text: string): SourceFile {
  const isTs = /\.(c|m)?tsx?$/.test(file) || !/\.(c|m)?jsx?$/.test(file);
  const ast = parseSync(
    text,
    isTs
      ? { syntax: "typescript", decorators: true, tsx: file.endsWith(".tsx"), target: "es2022" }
      : { syntax: "ecmascript", decorators: true, jsx: file.endsWith(".jsx"), target: "es2022" },
  );
  const bytes = Buffer.from(text, "utf8");
  const base = ast.span.start - leadingTriviaBytes(text);
  const ascii = bytes.length === text.length;
  // Byte offset of each line start.
  const lineStarts = [0];
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) lineStarts.push(i + 1);
  const lines = text.split(/\r?\n/);

  const loc = (pos: number) => {
    const offset = Math.max(0, pos - base);
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    const start = lineStarts[lo]!;
    const column = ascii ? offset - start + 1 : bytes.subarray(start, offset).toString("utf8").length + 1;
    return { line: lo + 1, column };
  };
  const slice = (span: Span) => bytes.subarray(Math.max(0, span.start - base), Math.max(0, span.end - base)).toString("utf8");
  const frame = (line: number, column: number) => {
    const from = Math.max(1, line - 2);
    const to = Math.min(lines.length, line + 2);
    const width = String(to).length;
    const out: string[] = [];
    for (let n = from; n <= to; n++) {
      const marker = n === line ? ">" : " ";
      out.push(`${marker} ${String(n).padStart(width)} | ${lines[n - 1] ?? ""}`);
      if (n === line) out.push(`  ${" ".repeat(width)} | ${" ".repeat(Math.max(0, column - 1))}^`);
    }
    return out.join("\n");
  };
  return { file, text, ast, loc, slice, frame };
}

const cache = new Map<string, { mtimeMs: number; source: SourceFile }>();

/** Reads and parses a file, cached by path and modification time. */
export function sourceLoad(file: string): SourceFile {
  const mtimeMs = statSync(file).mtimeMs;
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit.source;
  const source = sourceParse(file, readFileSync(file, "utf8"));
  cache.set(file, { mtimeMs, source });
  return source;
}

const OWN_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/**
 * The directories of waymark's own code that call `callerFile` (the SDK and the compiler), in
 * dist/ and, for stack frames mapped through source maps, beside it.
 */
const OWN_DIRS = ["sdk", "compiler"].flatMap((d) => [path.join(OWN_ROOT, d) + path.sep, path.join(OWN_ROOT, "..", d) + path.sep]);

function frameLocation(line: string): { file: string; line: number; column: number } | undefined {
  // "    at fn (file:///a/b.ts:1:2)" or "    at /a/b.ts:1:2" or "    at fn (/a/b.ts:1:2)"
  const m = /\(?((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):(\d+):(\d+)\)?\s*$/.exec(line);
  if (!m) return undefined;
  const f = m[1]!;
  return { file: f.startsWith("file://") ? fileURLToPath(f) : f, line: Number(m[2]), column: Number(m[3]) };
}

/**
 * The file of the user code that called into waymark: the first stack frame outside waymark's
 * own files and outside decorator helpers (tslib, @swc/helpers).
 */
export function callerFile(): string | undefined {
  return callerLocation()?.file;
}

/** `callerFile` with the line and column of the call. */
export function callerLocation(): { file: string; line: number; column: number } | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  for (const line of stack.split("\n").slice(1)) {
    if (line.includes("node:internal") || line.includes("(native)")) continue;
    const loc = frameLocation(line);
    if (!loc) continue;
    if (OWN_DIRS.some((d) => loc.file.startsWith(d))) continue;
    if (/[\\/]node_modules[\\/](tslib|@swc[\\/]helpers|@babel[\\/]runtime)[\\/]/.test(loc.file)) continue;
    return loc;
  }
  return undefined;
}
