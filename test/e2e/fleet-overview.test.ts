/**
 * The fleet overview in Debian's chromium against the real portal (production build, real
 * PostgreSQL, real libvirt, metrics collected every 2 s): an admin sees the local host with its
 * state, usage bars coloured against its thresholds and last-hour sparklines, updating without a
 * reload; sets a per-host CPU threshold through the form (a bad value is refused inline), reads it
 * back through the REST API, and clears it back to the global value. Tenants get 403.
 */
import type { Browser, Locator } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usageTone } from "../../app/_components/fleet/usage.ts";
import { disconnectDb } from "../../server/db/client.ts";
import { createUser } from "../../server/services/user-service.ts";
import { canvasStats, launchChromium, screenshot, signIn } from "../support/browser.ts";
import { ADMIN_PASSWORD, seedDatabase, serviceAs } from "../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../support/server.ts";

const TENANT = { username: "tina", password: "tenant-password-1" };

let portal: RunningPortal;
let browser: Browser;
let hostId: string;
let admin: ReturnType<typeof restClient>;

beforeAll(async () => {
  const seeded = await seedDatabase("vmdesk_e2e_fleet");
  hostId = seeded.hostId;
  await createUser(serviceAs(seeded.admin), { ...TENANT, role: "tenant" });
  await disconnectDb();
  portal = await startPortalServer(seeded.url, { VMDESK_METRICS_INTERVAL_MS: "2000" });
  browser = await launchChromium();
  const tok = await restClient(portal.baseUrl)("POST", "/auth/token", { username: "admin", password: ADMIN_PASSWORD });
  expect(tok.status).toBe(201);
  admin = restClient(portal.baseUrl, tok.body.token);
});
afterAll(async () => {
  await browser?.close();
  await portal?.stop();
});

const pctOf = async (bar: Locator) => {
  const v = await bar.getAttribute("data-pct");
  return v === null || v === "" ? null : Number(v);
};

describe("fleet overview", () => {
  it("REST: one answer for the whole fleet, series bounded; admins only", async () => {
    const fleet = await admin("GET", "/fleet");
    expect(fleet.status).toBe(200);
    expect(fleet.body.points).toBeLessThanOrEqual(120);
    expect(fleet.body.step).toBeGreaterThanOrEqual(2);
    const local = fleet.body.hosts.find((h: { id: string }) => h.id === hostId);
    expect(local).toMatchObject({ name: "local", overrides: {}, thresholds: fleet.body.global });
    for (const s of Object.values(local.series) as unknown[][]) expect(s).toHaveLength(fleet.body.points);

    const one = await admin("GET", `/hosts/${hostId}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: hostId, name: "local", alertThresholds: {} });
    expect((await admin("GET", "/hosts/00000000-0000-4000-8000-000000000000")).status).toBe(404);

    const tok = await restClient(portal.baseUrl)("POST", "/auth/token", TENANT);
    const tenant = restClient(portal.baseUrl, tok.body.token);
    expect((await tenant("GET", "/fleet")).status).toBe(403);
    expect((await tenant("GET", `/hosts/${hostId}`)).status).toBe(403);
  });

  it("admin sees the local host's state, bars and sparklines, live; sets, reads back and clears its CPU threshold", async () => {
    const page = await (await browser.newContext()).newPage();
    await signIn(page, portal.baseUrl, "admin", ADMIN_PASSWORD);
    await page.getByTestId("nav-admin-fleet").click();
    await page.waitForURL(/\/admin\/fleet$/);
    // A marker that only survives if the document is never reloaded.
    await page.evaluate(() => ((window as unknown as { vmdeskNoReload: boolean }).vmdeskNoReload = true));
    const card = page.locator(`[data-testid="fleet-host"][data-host-id="${hostId}"]`);
    await card.waitFor({ timeout: 30_000 });
    expect(await card.getAttribute("data-host-name")).toBe("local");
    await expect.poll(() => card.getAttribute("data-state"), { timeout: 30_000 }).toBe("up");

    // Bars appear once the collector has stored a reading (two 2 s rounds) and the page polled it.
    const cpu = card.getByTestId("fleet-cpu");
    const memory = card.getByTestId("fleet-memory");
    const disk = card.getByTestId("fleet-disk");
    await expect.poll(() => pctOf(cpu), { timeout: 60_000 }).not.toBeNull();
    await expect.poll(() => pctOf(disk), { timeout: 60_000 }).not.toBeNull();
    for (const bar of [cpu, memory, disk]) {
      const pct = (await pctOf(bar))!;
      expect(pct).toBeGreaterThanOrEqual(0);
      expect(pct).toBeLessThanOrEqual(100);
      expect(await bar.getAttribute("data-tone")).toBe(usageTone(pct, Number(await bar.getAttribute("data-threshold"))));
    }
    expect((await pctOf(memory))!).toBeGreaterThan(0);
    expect(await cpu.getAttribute("data-threshold")).toBe("80");
    expect(await memory.getAttribute("data-threshold")).toBe("85");
    expect(await disk.getAttribute("data-threshold")).toBe("90");
    expect(Number(await card.getByTestId("fleet-host-vms").getAttribute("data-vms"))).toBe(0);
    const fleet = await admin("GET", "/fleet");
    for (const id of ["fleet-cpu-sparkline", "fleet-memory-sparkline", "fleet-disk-sparkline"]) {
      const chart = card.getByTestId(id);
      await chart.locator("canvas").first().waitFor();
      expect(Number(await chart.getAttribute("data-points"))).toBe(fleet.body.points);
      // Drawn from the buckets: even a single reading shows (as a dot) before a line can join two.
      await expect.poll(async () => Number(await chart.getAttribute("data-filled")), { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
      await expect.poll(async () => (await canvasStats(chart)).lit, { timeout: 15_000 }).toBeGreaterThan(0);
    }
    // Live: a newer reading shows up through the 10 s poll, with no navigation.
    const first = await card.getAttribute("data-reading-at");
    await expect.poll(() => card.getAttribute("data-reading-at"), { timeout: 30_000 }).not.toBe(first);
    expect(await page.evaluate(() => (window as unknown as { vmdeskNoReload?: boolean }).vmdeskNoReload)).toBe(true);
    await screenshot(page, "admin-fleet");

    // Per-host thresholds: a value out of range is refused inline, and nothing is saved.
    await card.getByTestId("fleet-host-thresholds").locator("summary").click();
    const form = card.getByTestId("host-thresholds-local");
    await form.waitFor();
    expect(await form.getByTestId("host-threshold-cpu-pct").getAttribute("placeholder")).toBe("80");
    await form.getByTestId("host-threshold-cpu-pct").fill("150");
    await form.getByTestId("host-thresholds-save").click();
    await expect.poll(() => form.getByTestId("field-error").innerText()).toMatch(/1–100 %/);
    expect((await admin("GET", `/hosts/${hostId}`)).body.alertThresholds).toEqual({});

    await form.getByTestId("host-threshold-cpu-pct").fill("65");
    await form.getByTestId("host-threshold-cpu-window").fill("30");
    expect(await form.getByTestId("field-error").count()).toBe(0);
    await form.getByTestId("host-thresholds-save").click();
    await expect.poll(async () => (await admin("GET", `/hosts/${hostId}`)).body.alertThresholds, { timeout: 15_000 }).toEqual({ cpu: { abovePct: 65, windowS: 30 } });
    const effective = form.getByTestId("host-threshold-cpu-effective");
    await expect.poll(() => effective.getAttribute("data-pct"), { timeout: 15_000 }).toBe("65");
    expect(await effective.getAttribute("data-window")).toBe("30");
    expect(await effective.innerText()).toContain("this host");
    expect(await form.getByTestId("host-threshold-memory-effective").getAttribute("data-pct")).toBe("85");
    await expect.poll(() => cpu.getAttribute("data-threshold")).toBe("65");
    expect(await cpu.getAttribute("data-tone")).toBe(usageTone((await pctOf(cpu))!, 65));
    const fleetAfter = await admin("GET", "/fleet");
    expect(fleetAfter.body.hosts.find((h: { id: string }) => h.id === hostId).thresholds.cpu).toEqual({ abovePct: 65, windowS: 30 });
    await screenshot(page, "admin-fleet-thresholds");

    // Cleared: the host falls back to the global value.
    await form.getByTestId("host-threshold-cpu-clear").click();
    await form.getByTestId("host-thresholds-save").click();
    await expect.poll(async () => (await admin("GET", `/hosts/${hostId}`)).body.alertThresholds, { timeout: 15_000 }).toEqual({});
    const global = (await admin("GET", "/alerts/thresholds")).body;
    await expect.poll(() => effective.getAttribute("data-pct"), { timeout: 15_000 }).toBe(String(global.cpu.abovePct));
    expect(await effective.innerText()).toContain("global");
    await page.close();
  });
});
