import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Resolves a WAYMARK_USER_MODULE entry: a path (relative to the working directory; `.ts`
 * included) or a package name, resolved from the working directory's node_modules.
 */
export function userModuleUrl(spec: string, cwd = process.cwd()): string {
  const looksLikePath = spec.startsWith(".") || spec.startsWith("/") || path.isAbsolute(spec) || /\.(c|m)?(j|t)sx?$/.test(spec);
  if (looksLikePath) return pathToFileURL(path.resolve(cwd, spec)).href;
  try {
    return pathToFileURL(createRequire(path.join(cwd, "package.json")).resolve(spec)).href;
  } catch {
    // ESM-only packages without a "require" condition: let import() try from here.
    return spec;
  }
}

/** Imports the user modules in order; the first failure is reported with its module. */
export async function userModulesLoad(specs: string[]): Promise<void> {
  for (const spec of specs) {
    try {
      await import(userModuleUrl(spec));
    } catch (e) {
      (e as { waymarkModule?: string }).waymarkModule = spec;
      throw e;
    }
  }
}
