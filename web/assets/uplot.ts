/**
 * uPlot (https://github.com/leeoniya/uPlot, MIT), the charting library of the workers page:
 * its browser build and stylesheet, served by the web app itself from the installed `uplot`
 * package (same origin, so the CSP stays `script-src 'self'`; nothing is fetched from elsewhere).
 * Read once, on first use.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const FILES = { js: "uplot/dist/uPlot.iife.min.js", css: "uplot/dist/uPlot.min.css" } as const;
const cache = new Map<keyof typeof FILES, string>();

export function uplotAsset(kind: keyof typeof FILES): string {
  let text = cache.get(kind);
  if (text === undefined) {
    text = readFileSync(fileURLToPath(import.meta.resolve(FILES[kind])), "utf8");
    cache.set(kind, text);
  }
  return text;
}
