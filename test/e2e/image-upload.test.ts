/**
 * Uploading an image from the browser (Debian's chromium, real portal, production build): a tenant
 * opens Images from the nav, picks a 40 MiB raw file, and watches the progress bar climb chunk by
 * chunk to 100 %, then sees the stored image with its sha256 in the table.
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disconnectDb } from "../../server/db/client.ts";
import { createUser } from "../../server/services/user-service.ts";
import { launchChromium, screenshot, signIn } from "../support/browser.ts";
import { ADMIN_PASSWORD, dataDir, seedDatabase, serviceAs } from "../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../support/server.ts";

const TENANT = { username: "uma", password: "tenant-password-1" };
const imageDir = path.join(dataDir, "e2e-upload-images");
const file = path.join(dataDir, "e2e-upload-source", "disk.img");

let portal: RunningPortal;
let browser: Browser;

beforeAll(async () => {
  fs.rmSync(imageDir, { recursive: true, force: true });
  fs.mkdirSync(imageDir, { recursive: true });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, randomBytes(40 * 1024 * 1024));
  const seeded = await seedDatabase("vmdesk_e2e_upload");
  const user = await createUser(serviceAs(seeded.admin), { ...TENANT, role: "tenant" });
  await disconnectDb();
  portal = await startPortalServer(seeded.url, { VMDESK_IMAGE_DIRS: imageDir });
  const tok = await restClient(portal.baseUrl)("POST", "/auth/token", { username: "admin", password: ADMIN_PASSWORD });
  expect((await restClient(portal.baseUrl, tok.body.token)("PUT", `/users/${user.id}/images-quota`, { imagesGiB: 1 })).status).toBe(200);
  browser = await launchChromium();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await portal?.stop();
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  fs.rmSync(imageDir, { recursive: true, force: true });
});

describe("image upload in the browser", () => {
  it("shows the progress bar climbing to 100 % and the stored image with its sha256", async () => {
    const page = await browser.newPage();
    await signIn(page, portal.baseUrl, TENANT.username, TENANT.password);
    await page.getByTestId("nav-images").click();
    await page.waitForURL(/\/images$/);
    await page.getByTestId("image-upload-file").setInputFiles(file);
    expect(await page.getByTestId("image-upload-format").inputValue()).toBe("raw");
    await page.getByTestId("image-upload-name").fill("browser disk");
    await page.getByTestId("image-upload-submit").click();
    const seen = new Set<number>();
    const bar = page.getByTestId("image-upload-progress");
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const v = await bar.getAttribute("aria-valuenow").catch(() => null);
      if (v !== null) seen.add(Number(v));
      if (v === "100" && (await page.getByTestId("image-upload-status").textContent())?.includes("sha256")) break;
      await page.waitForTimeout(50);
    }
    expect(Math.max(...seen)).toBe(100);
    expect([...seen].some((v) => v > 0 && v < 100)).toBe(true);
    const sha = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
    await expect.poll(() => page.getByTestId("image-upload-status").textContent()).toContain(sha);
    await expect.poll(() => page.getByTestId("image-row-browser disk").textContent()).toContain("private");
    await screenshot(page, "image-upload");
  }, 180_000);
});
