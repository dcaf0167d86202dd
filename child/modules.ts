/**
 * Imports the user's modules (WAYMARK_USER_MODULE entries: paths, `.ts` included, or package
 * names resolved from the working directory), for a child at start-up and for `waymark run`.
 * Both callers bound each import by WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS: an import that never
 * finishes fails, naming the module, instead of hanging the start without a word.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { WaymarkError } from "../core/errors.js";

/**
 * Resolves a WAYMARK_USER_MODULE entry: a path (relative to the working directory; `.ts`
 * included) or a package name, resolved from the working directory's node_modules.
 */
function userModuleUrl(spec: string, cwd = process.cwd()): string {
  const looksLikePath = spec.startsWith(".") || spec.startsWith("/") || path.isAbsolute(spec) || /\.(c|m)?(j|t)sx?$/.test(spec);
  if (looksLikePath) return pathToFileURL(path.resolve(cwd, spec)).href;
  try {
    return pathToFileURL(createRequire(path.join(cwd, "package.json")).resolve(spec)).href;
  } catch {
    // ESM-only packages without a "require" condition: let import() try from here.
    return spec;
  }
}

/**
 * Imports one user module, failing if it has not finished loading after `timeoutMs` (a top-level
 * `await` that never settles, a connection made at import that never answers): a start that
 * would otherwise hang without a word fails, naming the module and the limit.
 */
export async function userModuleImport(spec: string, o: { timeoutMs?: number; cwd?: string } = {}): Promise<Record<string, unknown>> {
  const loading = import(userModuleUrl(spec, o.cwd)) as Promise<Record<string, unknown>>;
  if (o.timeoutMs === undefined) return loading;
  const timeoutMs = o.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  // Not unref'd: a module that waits on nothing would otherwise let the process end mid-import.
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = new WaymarkError(
        "WAYMARK_REGISTRATION",
        `${spec} did not finish loading within ${timeoutMs} ms (WAYMARK_USER_MODULE_LOAD_TIMEOUT_MS): a top-level await that never settles, or a connection opened at import that never answers?`,
      );
      e.stack = `${e.name}: ${e.message}`; // the timer's stack says nothing about the module
      reject(e);
    }, timeoutMs);
  });
  try {
    return await Promise.race([loading, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Imports the user modules in order, each within `timeoutMs`; the first failure is reported with its module. */
export async function userModulesLoad(specs: string[], o: { timeoutMs?: number } = {}): Promise<void> {
  for (const spec of specs) {
    try {
      await userModuleImport(spec, o);
    } catch (e) {
      (e as { waymarkModule?: string }).waymarkModule = spec;
      throw e;
    }
  }
}
