/**
 * Headless Chromium for the web app's browser tests: Debian's `chromium` package driven by
 * playwright-core (no browser download). Screenshots go to test-artifacts/web/.
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT } from "../helpers/supervise.js";

export const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = path.join(ROOT, "test-artifacts", "web");

export async function chromiumLaunch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium) to run the web app's browser tests; .ci/run does this`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Saves a full-page screenshot as test-artifacts/web/<name>.png (and returns its path). */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Collects what would show in the browser's console as a problem. */
export function problems(page: Page): string[] {
  const out: string[] = [];
  page.on("pageerror", (e) => out.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") out.push(`console: ${m.text()}`);
  });
  return out;
}

/** A drawn chart: its plotting area (canvas pixels) and, per series, how much of it shows. */
export interface ChartPixels {
  area: number[];
  series: Array<{ label: string; color: string; pixels: number }>;
}

/**
 * The workers page's charts as drawn, by data-chart name: per series in a chart's legend, its
 * name, its colour (the legend marker's) and how many pixels of that colour the canvas holds
 * inside the plotting area (uPlot's .u-over), read back with getImageData. A chart drawn without
 * its data (a frame, axes and grid only) has none.
 */
export async function seriesPixels(page: Page): Promise<Record<string, ChartPixels>> {
  return (await page.evaluate(SERIES_PIXELS)) as Record<string, ChartPixels>;
}

const SERIES_PIXELS = `(() => {
  const out = {};
  for (const fig of document.querySelectorAll("#charts figure[data-chart]")) {
    const canvas = fig.querySelector("canvas");
    const over = fig.querySelector(".u-over");
    if (!canvas || !over) continue;
    const c = canvas.getBoundingClientRect();
    const o = over.getBoundingClientRect();
    const k = canvas.width / c.width;
    const x = Math.round((o.left - c.left) * k), y = Math.round((o.top - c.top) * k);
    const w = Math.round(o.width * k), h = Math.round(o.height * k);
    const px = canvas.getContext("2d").getImageData(x, y, w, h).data;
    const series = [];
    for (const row of [...fig.querySelectorAll(".u-legend .u-series")].slice(1)) {
      const color = getComputedStyle(row.querySelector(".u-marker")).borderTopColor;
      const [r, g, b] = color.match(/\\d+/g).map(Number);
      let n = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 200 && Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 40) n++;
      }
      series.push({ label: row.querySelector(".u-label").textContent, color, pixels: n });
    }
    out[fig.getAttribute("data-chart")] = { series, area: [w, h] };
  }
  return out;
})()`;
