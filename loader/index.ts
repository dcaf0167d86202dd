/**
 * Run `.ts` modules without a build step: `registerTypeScriptLoader()` installs the hooks in
 * `./hooks.ts` (Node's module customization hooks, `module.register`) and turns on source maps
 * so stack traces point at TypeScript lines. Safe to call more than once.
 *
 * `node --import waymark/register app.ts` does the same from the command line.
 */
import * as nodeModule from "node:module";

const REGISTERED = Symbol.for("waymark.loader.registered");

/** Install the TypeScript loader in this process, once. */
export function registerTypeScriptLoader(): void {
  const state = globalThis as { [REGISTERED]?: boolean };
  if (state[REGISTERED] === true) return;
  if (typeof nodeModule.register !== "function") {
    throw new Error(`waymark's TypeScript loader needs module.register (Node >= 20.6); this is Node ${process.version}`);
  }
  nodeModule.register(new URL("./hooks.js", import.meta.url));
  process.setSourceMapsEnabled(true);
  state[REGISTERED] = true;
}
