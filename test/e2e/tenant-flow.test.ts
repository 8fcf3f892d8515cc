/**
 * End to end in Debian's chromium against the real portal (production build, real PostgreSQL, real
 * libvirt): an admin creates a tenant with a quota; the tenant creates a VM, watches it turn running
 * without reloading, sees its metrics charts, takes a snapshot and reverts to it, stops it, resizes it, and deletes it; an over-quota request says which
 * limit was hit.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../server/db/client.ts";
import { launchChromium, screenshot, signIn } from "../support/browser.ts";
import { seedDatabase } from "../support/harness.ts";
import { startPortalServer, type RunningPortal } from "../support/server.ts";

let portal: RunningPortal;
let browser: Browser;

beforeAll(async () => {
  const { url } = await seedDatabase("vmdesk_e2e_tenant");
  await disconnectDb();
  portal = await startPortalServer(url, { VMDESK_METRICS_INTERVAL_MS: "2000" });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await portal?.stop();
});

describe("tenant flow in the browser", () => {
  it("admin creates a tenant with a quota", async () => {
    const page = await (await browser.newContext()).newPage();
    await signIn(page, portal.baseUrl, "admin", "admin-password-1");
    await page.goto(`${portal.baseUrl}/admin/users`);
    await page.getByTestId("user-create-username").fill("alice");
    await page.getByTestId("user-create-password").fill("alice-password-1");
    await page.getByTestId("user-create-role").selectOption("tenant");
    await page.getByTestId("user-create-submit").click();
    await page.getByTestId("user-created").waitFor();
    await page.getByTestId("quota-edit-alice").click();
    await page.getByTestId("quota-vms").fill("2");
    await page.getByTestId("quota-vcpus").fill("2");
    await page.getByTestId("quota-memory").fill("256");
    await page.getByTestId("quota-disk").fill("4");
    await page.getByTestId("quota-save").click();
    await expect.poll(async () => (await db().quota.findFirst({ where: { user: { username: "alice" } } }))?.maxMemoryMiB, { timeout: 15_000 }).toBe(256);
    await screenshot(page, "admin-users");

    // The alerts page: thresholds saved from the form (read back through the API's setting).
    await page.getByTestId("nav-admin-alerts").click();
    await page.getByTestId("alert-thresholds").waitFor();
    await page.getByTestId("threshold-cpu-pct").fill("75");
    await page.getByRole("button", { name: "Save thresholds" }).click();
    await expect.poll(async () => ((await db().setting.findUnique({ where: { key: "alertThresholds" } }))?.value as { cpu?: { abovePct?: number } } | undefined)?.cpu?.abovePct, { timeout: 15_000 }).toBe(75);
    await screenshot(page, "admin-alerts");
    await page.close();
  });

  it("tenant creates a VM, sees it run without reloading, is told why it cannot be HA here, stops and deletes it; over quota names the limit", async () => {
    const page = await (await browser.newContext()).newPage();
    await signIn(page, portal.baseUrl, "alice", "alice-password-1");
    await page.goto(`${portal.baseUrl}/`);
    // A marker that only survives if the document is never reloaded.
    await page.evaluate(() => ((window as unknown as { vmdeskNoReload: boolean }).vmdeskNoReload = true));

    await page.getByTestId("create-vm-button").click();
    await page.getByTestId("create-vm-name").fill("my first vm");
    await page.getByTestId("create-vm-memory").fill("128");
    await page.getByTestId("create-vm-submit").click();
    const card = page.locator('[data-testid="vm-card"][data-vm-name="my first vm"]');
    await card.waitFor({ timeout: 30_000 });
    // Live state: the card turns running through the subscription, with no navigation.
    await card.locator('[data-testid="vm-state"][data-state="running"]').waitFor({ timeout: 90_000 });
    expect(await page.evaluate(() => (window as unknown as { vmdeskNoReload?: boolean }).vmdeskNoReload)).toBe(true);
    await screenshot(page, "tenant-dashboard-running");

    // Over quota: 256 MiB limit, 128 in use, asking for 200 more.
    await page.getByTestId("create-vm-button").click();
    await page.getByTestId("create-vm-name").fill("too big");
    await page.getByTestId("create-vm-memory").fill("200");
    await page.getByTestId("create-vm-submit").click();
    const err = page.getByTestId("form-error");
    await err.waitFor();
    await expect.poll(() => err.innerText()).toMatch(/memory \(MiB\) limit 256/);
    await screenshot(page, "tenant-over-quota");
    await page.getByTestId("create-vm-cancel").click();

    // Stop it from its page, then delete it.
    await card.getByTestId("vm-card-link").click();
    await page.getByTestId("vm-detail").waitFor();
    // High availability needs shared storage; this host's pool is not shared, and the page says why.
    await page.getByTestId("vm-ha-enabled").click();
    const haError = page.getByTestId("vm-ha").getByTestId("form-error");
    await haError.waitFor();
    await expect.poll(() => haError.innerText()).toMatch(/shared storage/);
    expect(await page.getByTestId("vm-ha-enabled").isChecked()).toBe(false);
    // Its metrics: charts drawn from the collector's readings (every 2 s in this portal).
    await page.locator('[data-testid="vm-chart-cpu"] canvas').first().waitFor({ timeout: 45_000 });
    await expect.poll(async () => Number(await page.getByTestId("vm-chart-cpu").getAttribute("data-points")), { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    await page.getByTestId("vm-metrics").scrollIntoViewIfNeeded();
    await screenshot(page, "tenant-vm-metrics");

    // Snapshots: take one with the guest's memory, see it ready, revert to it through the dialog.
    await page.getByTestId("snapshot-name").fill("first");
    expect(await page.getByTestId("snapshot-memory").isChecked()).toBe(true);
    await page.getByTestId("snapshot-take").click();
    await expect.poll(() => page.getByTestId("snapshot-state-first").innerText(), { timeout: 60_000 }).toBe("ready");
    await expect.poll(() => page.getByTestId("snapshot-quota").innerText(), { timeout: 15_000 }).toMatch(/^1 of 10 snapshots used/);
    await page.getByTestId("snapshot-revert-first").click();
    await page.getByTestId("confirm-yes").click();
    await expect.poll(async () => (await db().operation.findFirst({ where: { kind: "revert", vm: { name: "my first vm" } }, orderBy: { createdAt: "desc" } }))?.status, { timeout: 60_000 }).toBe("succeeded");
    await page.locator('[data-testid="vm-state"][data-state="running"]').waitFor({ timeout: 30_000 });
    await page.getByTestId("vm-snapshots").scrollIntoViewIfNeeded();
    await screenshot(page, "tenant-vm-snapshots");
    await page.getByTestId("vm-action-shutdown").click();
    await page.locator('[data-testid="vm-state"][data-state="stopped"]').waitFor({ timeout: 90_000 });
    await screenshot(page, "tenant-vm-stopped");

    // Resize while stopped: the dialog shows the quota after the change as the numbers change.
    await page.getByTestId("vm-resize-open").click();
    await page.getByTestId("resize-memoryMiB").fill("192");
    await expect.poll(() => page.getByTestId("resize-quota-memoryMiB").innerText(), { timeout: 15_000 }).toBe("192 of 256");
    await page.getByTestId("resize-memoryMiB").fill("300");
    await expect.poll(() => page.getByTestId("resize-quota-memoryMiB").innerText()).toBe("300 of 256");
    await page.getByTestId("resize-submit").click();
    await expect.poll(() => page.getByTestId("resize-error").innerText(), { timeout: 15_000 }).toMatch(/memory \(MiB\) limit 256/);
    await page.getByTestId("resize-memoryMiB").fill("192");
    await page.getByTestId("resize-diskGiB").fill("2");
    await screenshot(page, "tenant-vm-resize");
    await page.getByTestId("resize-submit").click();
    await expect.poll(() => page.getByTestId("vm-specs").innerText(), { timeout: 60_000 }).toMatch(/192 MiB memory · 2 GiB disk/);
    await page.getByTestId("vm-action-delete").click();
    await page.getByTestId("confirm-yes").click();
    await expect.poll(async () => db().vm.count({ where: { name: "my first vm", deletedAt: null } }), { timeout: 60_000 }).toBe(0);
    await page.goto(`${portal.baseUrl}/`);
    await page.getByTestId("vm-list-empty").waitFor({ timeout: 15_000 });
    await page.close();
  });
});
