/**
 * The browser console end to end, in chromium against the real portal and a real guest: a tenant
 * opens the graphical console of a running VM, sees the guest's screen, types a command on its VGA
 * console that writes a marker to the serial port (read back from the serial log), then uses the
 * serial console page and the dashboard's live thumbnail.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../server/db/client.ts";
import { createUser, setQuota } from "../../server/services/user-service.ts";
import { canvasStats, expectSerialRoundTrip, launchChromium, screenshot, signIn, typeKeys } from "../support/browser.ts";
import { seedDatabase, serviceAs, waitFor } from "../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../support/server.ts";

let portal: RunningPortal;
let browser: Browser;
let vm: { id: string; domainName: string };
let api: ReturnType<typeof restClient>;

const TENANT = { username: "carol", password: "carol-password-1" };

beforeAll(async () => {
  const { url, admin, imageId } = await seedDatabase("vmdesk_e2e_console");
  const svc = serviceAs(admin);
  const tenant = await createUser(svc, { ...TENANT, role: "tenant" });
  await setQuota(svc, tenant.id, { vms: 2, vcpus: 2, memoryMiB: 256, diskGiB: 4 });
  await disconnectDb();
  portal = await startPortalServer(url);
  browser = await launchChromium();

  // The VM is made through the REST API: the console, not VM creation, is under test here.
  const anon = restClient(portal.baseUrl);
  const tok = await anon("POST", "/auth/token", TENANT);
  expect(tok.status).toBe(201);
  api = restClient(portal.baseUrl, tok.body.token);
  const created = await api("POST", "/vms", { name: "console vm", imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
  expect(created.status).toBe(202);
  vm = { id: created.body.vm.id, domainName: created.body.vm.domainName };
  let last: unknown = null;
  await waitFor(
    "the guest to be running and ready",
    async () => {
      const r = await api("GET", `/vms/${vm.id}`);
      last = r.body;
      return r.body?.state === "running" && r.body.guestReadyAt;
    },
    150_000,
    500,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen: ${JSON.stringify(last)}`);
  });
  // The serial banner comes first; give tty1's autologin a moment to print its prompt.
  await new Promise((r) => setTimeout(r, 4_000));
});
afterAll(async () => {
  await browser?.close();
  // Leave no guest behind: deleting through the portal removes the domain and its disk.
  if (vm && api) {
    await api("DELETE", `/vms/${vm.id}`);
    await waitFor("the VM to be deleted", async () => (await api("GET", `/vms/${vm.id}`)).status === 404, 60_000, 500).catch(() => undefined);
  }
  await portal?.stop();
});

function serialLog(): string {
  try {
    return fs.readFileSync(`/var/log/libvirt/qemu/${vm.domainName}-serial.log`, "utf8");
  } catch {
    return "";
  }
}

describe("browser console", () => {
  it("shows the guest's screen and keys typed into the canvas reach the guest", async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await signIn(page, portal.baseUrl, TENANT.username, TENANT.password);
    await page.goto(`${portal.baseUrl}/vms/${vm.id}/console`);
    await page.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });

    // Not blank: the text console has a background and lit glyphs.
    await expect
      .poll(() => canvasStats(page.getByTestId("console-canvas-container")), { timeout: 30_000, interval: 500 })
      .toSatisfy((s: { width: number; colors: number; lit: number }) => s.width > 0 && s.colors >= 2 && s.lit >= 200);
    const stats = await canvasStats(page.getByTestId("console-canvas-container"));
    expect(stats.width).toBeGreaterThanOrEqual(640);

    const marker = `hello-${randomBytes(4).toString("hex")}`;
    expect(serialLog()).not.toContain(marker);
    await page.getByTestId("console-canvas-container").locator("canvas").click();
    await page.keyboard.press("Enter");
    await page.waitForTimeout(500);
    await typeKeys(page, `echo ${marker} > /dev/ttyS0`);
    await page.keyboard.press("Enter");
    await expect.poll(serialLog, { timeout: 20_000, interval: 250 }).toContain(marker);
    await page.waitForTimeout(500);
    await screenshot(page, "console");

    // Toolbar: fullscreen on and off; scale toggles to 1:1 and back; paste types into the guest as well.
    await page.getByTestId("console-fullscreen").click();
    await expect.poll(() => page.evaluate(() => document.fullscreenElement?.getAttribute("data-testid") ?? null)).toBe("vnc-console");
    await expect.poll(() => page.getByTestId("console-fullscreen").innerText()).toBe("Exit fullscreen");
    await screenshot(page, "console-fullscreen");
    await page.getByTestId("console-fullscreen").click();
    await expect.poll(() => page.evaluate(() => document.fullscreenElement === null)).toBe(true);
    await page.getByTestId("console-scale").click();
    await expect.poll(() => page.getByTestId("console-scale").getAttribute("data-scale")).toBe("native");
    await page.getByTestId("console-scale").click();
    const pasted = `pasted-${randomBytes(4).toString("hex")}`;
    await page.getByTestId("console-paste").click();
    await page.getByTestId("console-paste-text").fill(`echo ${pasted} > /dev/ttyS0\n`);
    await page.getByTestId("console-paste-submit").click();
    await expect.poll(serialLog, { timeout: 20_000, interval: 250 }).toContain(pasted);
    await page.close();
  });

  it("the serial console page shows the guest's shell in xterm", async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await signIn(page, portal.baseUrl, TENANT.username, TENANT.password);
    await expectSerialRoundTrip(page, portal.baseUrl, vm.id);
    await screenshot(page, "serial-console");
    await page.close();
  });

  it("the dashboard card shows a live view-only thumbnail; the detail page has the inline console", async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await signIn(page, portal.baseUrl, TENANT.username, TENANT.password);
    await page.goto(`${portal.baseUrl}/`);
    const thumb = page.locator(`[data-testid="vm-card"][data-vm-id="${vm.id}"] [data-testid="console-thumbnail"]`);
    await thumb.waitFor();
    await expect.poll(() => thumb.getAttribute("data-status"), { timeout: 30_000 }).toBe("connected");
    await expect
      .poll(() => page.evaluate(() => {
        const c = document.querySelector<HTMLCanvasElement>('[data-testid="console-thumbnail"] canvas');
        return c ? c.width : 0;
      }), { timeout: 15_000 })
      .toBeGreaterThan(0);
    await page.waitForTimeout(1_000);
    await screenshot(page, "console-thumbnail");

    await page.getByTestId("vm-card-link").click();
    await page.getByTestId("vm-detail").waitFor();
    await page.locator('[data-testid="console-section"] [data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
    await expect(page.getByTestId("console-open-serial").getAttribute("href")).resolves.toBe(`/vms/${vm.id}/serial`);
    await screenshot(page, "console-inline");
    await page.close();
  });

  it("the status line says when the VM stops, and the console comes back when it is started from there", async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await signIn(page, portal.baseUrl, TENANT.username, TENANT.password);
    await page.goto(`${portal.baseUrl}/vms/${vm.id}/console`);
    const status = page.getByTestId("console-status");
    await page.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
    expect((await api("POST", `/vms/${vm.id}/poweroff`)).status).toBe(202);
    await page.locator('[data-testid="console-status"][data-status="stopped"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => status.innerText()).toContain("VM is stopped — start it");
    await screenshot(page, "console-stopped");
    await page.getByTestId("console-start").click();
    await page.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 60_000 });
    await expect.poll(() => canvasStats(page.getByTestId("console-canvas-container")), { timeout: 60_000, interval: 500 }).toSatisfy((s: { width: number; lit: number }) => s.width > 0 && s.lit > 0);
    await page.close();
  });
});
