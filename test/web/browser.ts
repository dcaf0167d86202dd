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
