/** Debian's chromium driven by playwright-core (never a downloaded browser). */
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { expect } from "vitest";
import { repoRoot } from "./harness.ts";

export const artifactsDir = path.join(repoRoot, "test-results", "e2e");

export async function launchChromium(): Promise<Browser> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  return chromium.launch({
    executablePath: process.env.VMDESK_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export async function signIn(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/signin`);
  await page.getByTestId("signin-username").fill(username);
  await page.getByTestId("signin-password").fill(password);
  await page.getByTestId("signin-submit").click();
  await page.getByTestId("nav-username").waitFor({ timeout: 30_000 });
}

/**
 * Samples the canvas inside `scope` (e.g. a page's `console-canvas-container`): how many distinct
 * colours, how many clearly non-black pixels.
 */
export function canvasStats(scope: Locator) {
  return scope.evaluate((node) => {
    const canvas = node.querySelector("canvas");
    const ctx = canvas?.getContext("2d");
    if (!canvas || !ctx || canvas.width === 0 || canvas.height === 0) return { width: 0, height: 0, colors: 0, lit: 0 };
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const colors = new Set<number>();
    let lit = 0;
    for (let i = 0; i < data.length; i += 4 * 3) {
      const r = data[i]!, g = data[i + 1]!, b = data[i + 2]!;
      colors.add((r << 16) | (g << 8) | b);
      if (r + g + b > 150) lit++;
    }
    return { width: canvas.width, height: canvas.height, colors: colors.size, lit };
  });
}

/**
 * Opens the VM's serial console page as the signed-in user and proves a round trip: a prompt after
 * Enter, then a typed `echo` whose marker shows twice (as typed, and as the command's output).
 */
export async function expectSerialRoundTrip(page: Page, baseUrl: string, vmId: string): Promise<void> {
  await page.goto(`${baseUrl}/vms/${vmId}/serial`);
  await page.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
  const rows = page.locator('[data-testid="serial-terminal"] .xterm-rows');
  await page.getByTestId("serial-terminal").click();
  await page.keyboard.press("Enter");
  await expect.poll(() => rows.innerText(), { timeout: 15_000 }).toMatch(/[#$] ?\s*$/m);
  const marker = `serial-${randomBytes(4).toString("hex")}`;
  await page.keyboard.type(`echo ${marker}`);
  await page.keyboard.press("Enter");
  await expect.poll(async () => (await rows.innerText()).split(marker).length - 1, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
}

const SHIFTED: Record<string, string> = { ">": "Period", "<": "Comma", "|": "Backslash", "_": "Minus", ":": "Semicolon", '"': "Quote", "&": "Digit7" };
const PLAIN: Record<string, string> = { " ": "Space", "-": "Minus", "/": "Slash", ".": "Period", "=": "Equal" };

/** Types on a US keyboard key by key, holding Shift for shifted characters as a person would. */
export async function typeKeys(page: Page, text: string) {
  for (const ch of text) {
    if (SHIFTED[ch]) await page.keyboard.press(`Shift+${SHIFTED[ch]}`);
    else if (PLAIN[ch]) await page.keyboard.press(PLAIN[ch]);
    else if (/[A-Z]/.test(ch)) await page.keyboard.press(`Shift+Key${ch}`);
    else await page.keyboard.press(ch);
    await page.waitForTimeout(20);
  }
}
