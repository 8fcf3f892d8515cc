/**
 * Classrooms end to end in chromium against the real portal and real guests: the admin grants the
 * teacher a teaching quota on the users page; the teacher creates a class within it, pastes a roster of
 * three (creating their accounts), previews and provisions, watches the progress bar reach 3/3 running,
 * sees three live non-blank view-only thumbnails on the videowall and takes control of one console
 * explicitly; a student signs in with the temporary password shown, is refused everything until they
 * choose their own password on the page they are sent to, then sees only their own VM. The class's VMs are deleted at the end (through the page, and again by REST
 * as a safety net).
 */
import { randomUUID } from "node:crypto";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../server/db/client.ts";
import { createUser } from "../../server/services/user-service.ts";
import { canvasStats, launchChromium, screenshot, signIn } from "../support/browser.ts";
import { ADMIN_PASSWORD, seedDatabase, serviceAs, waitFor } from "../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../support/server.ts";

let portal: RunningPortal;
let browser: Browser;
let classId: string | null = null;

const TEACHER = { username: "teach", password: "teacher-password-1" };
const ROSTER = [
  { username: "s1", name: "Ada Lovelace" },
  { username: "s2", name: "Alan Turing" },
  { username: "s3", name: "Grace Hopper" },
];
const passwords = new Map<string, string>();

beforeAll(async () => {
  const { url, admin } = await seedDatabase("vmdesk_e2e_classroom");
  await createUser(serviceAs(admin), { ...TEACHER, role: "teacher", displayName: "Ms Teacher" });
  await disconnectDb();
  portal = await startPortalServer(url);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  // Leave no guest behind, whatever happened above.
  if (classId && portal) {
    const tok = await restClient(portal.baseUrl)("POST", "/auth/token", TEACHER);
    const api = restClient(portal.baseUrl, tok.body?.token);
    await api("POST", `/classes/${classId}/delete-all`, {});
    await waitFor("the class VMs to be deleted", async () => (await db().vm.count({ where: { classId: classId!, deletedAt: null } })) === 0, 90_000, 500).catch(() => undefined);
  }
  await portal?.stop();
});

async function newPage(): Promise<Page> {
  return (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
}

describe("classroom in the browser", () => {
  it("the admin grants the teacher a teaching quota on the users page", async () => {
    const page = await newPage();
    await signIn(page, portal.baseUrl, "admin", ADMIN_PASSWORD);
    await page.goto(`${portal.baseUrl}/admin/users`);
    const cell = page.getByTestId(`teaching-quota-${TEACHER.username}`);
    await expect.poll(() => cell.getByTestId("quota-usage-vms").getAttribute("data-limit"), { timeout: 30_000 }).toBe("0");
    await page.getByTestId(`teaching-quota-edit-${TEACHER.username}`).click();
    await page.getByTestId("teaching-quota-vms").fill("5");
    await page.getByTestId("teaching-quota-vcpus").fill("5");
    await page.getByTestId("teaching-quota-memory").fill("1024");
    await page.getByTestId("teaching-quota-disk").fill("10");
    await page.getByTestId("teaching-quota-save").click();
    await expect.poll(() => cell.getByTestId("quota-usage-vms").getAttribute("data-limit"), { timeout: 15_000 }).toBe("5");
    await screenshot(page, "admin-teaching-quota");
    const granted = await db().teachingQuota.findFirstOrThrow({ where: { user: { username: TEACHER.username } } });
    expect([granted.maxVms, granted.maxVcpus, granted.maxMemoryMiB, granted.maxDiskGiB]).toEqual([5, 5, 1024, 10]);
    await page.close();
  });

  it("teacher creates a class, adds a roster of 3, previews, provisions and watches the videowall", async () => {
    const page = await newPage();
    await signIn(page, portal.baseUrl, TEACHER.username, TEACHER.password);
    await page.getByTestId("nav-classes").click();
    await page.waitForURL(/\/classes$/);

    await page.getByTestId("class-new").click();
    await page.getByTestId("class-create-name").fill("Networks 101");
    await expect.poll(() => page.getByTestId("class-create-image").locator("option").allInnerTexts()).toEqual([expect.stringContaining("vmdesk demo")]);
    await page.getByTestId("class-create-vcpus").fill("1");
    await page.getByTestId("class-create-memory").fill("96");
    await page.getByTestId("class-create-disk").fill("1");
    await page.getByTestId("class-create-budget-vms").fill("5");
    await page.getByTestId("class-create-budget-vcpus").fill("5");
    await page.getByTestId("class-create-budget-memory").fill("1024");
    await page.getByTestId("class-create-budget-disk").fill("10");
    await expect.poll(() => page.getByTestId("teaching-quota-left").getAttribute("data-vms"), { timeout: 15_000 }).toBe("5");
    await screenshot(page, "class-create");
    await page.getByTestId("class-create-submit").click();
    await page.waitForURL(/\/classes\/[0-9a-f-]{36}$/, { timeout: 15_000 });
    classId = (await page.getByTestId("class-page").getAttribute("data-class-id"))!;
    expect(classId).toMatch(/^[0-9a-f-]{36}$/);

    // The list shows it too.
    await page.getByRole("link", { name: "Classes" }).first().click();
    await page.locator(`[data-testid="class-row"][data-class-id="${classId}"]`).waitFor();
    await page.locator(`[data-testid="class-row"][data-class-id="${classId}"] [data-testid="class-link"]`).click();
    await page.getByTestId("class-page").waitFor();

    // Roster: three new accounts, their temporary passwords shown once.
    await page.getByTestId("roster-csv").fill(ROSTER.map((s) => `${s.username},${s.name}`).join("\n"));
    await page.getByTestId("roster-submit").click();
    await page.getByTestId("roster-created").waitFor({ timeout: 15_000 });
    for (const s of ROSTER) {
      const pw = await page.locator(`[data-testid="roster-created-row"][data-username="${s.username}"] [data-testid="roster-temp-password"]`).innerText();
      expect(pw.trim().length).toBeGreaterThanOrEqual(8);
      passwords.set(s.username, pw.trim());
    }
    await expect.poll(() => page.getByTestId("student-row").count(), { timeout: 10_000 }).toBe(3);

    // Preview: fits, three VMs, nothing refused; then provision.
    await page.getByTestId("class-preview").click();
    const preview = page.getByTestId("preview-result");
    await preview.waitFor();
    expect(await preview.getAttribute("data-fits")).toBe("true");
    expect(await preview.getAttribute("data-vms")).toBe("3");
    expect(await page.getByTestId("preview-reason").count()).toBe(0);
    await screenshot(page, "class-preview");
    await page.getByTestId("class-provision").click();

    const progress = page.getByTestId("provision-progress");
    await progress.waitFor({ timeout: 15_000 });
    expect(await progress.getAttribute("data-total")).toBe("3");
    await screenshot(page, "class-provisioning");
    await expect.poll(() => progress.getAttribute("data-done"), { timeout: 180_000, interval: 500 }).toBe("3");
    for (const s of ROSTER) expect(await page.locator(`[data-testid="student-row"][data-username="${s.username}"]`).getAttribute("data-state")).toBe("running");
    // The guests report ready (first serial output) a little after "running": then their screens have text.
    await expect.poll(() => page.locator('[data-testid="student-row"] [data-testid="vm-state"][data-guest="ready"]').count(), { timeout: 120_000, interval: 1_000 }).toBe(3);
    await page.waitForTimeout(2_000);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, "class-page");

    // Videowall: three live view-only tiles, none of them blank.
    await page.getByTestId("open-wall").click();
    await page.getByTestId("videowall").waitFor();
    const tiles = page.getByTestId("wall-tile");
    await expect.poll(() => tiles.count(), { timeout: 15_000 }).toBe(3);
    expect((await tiles.evaluateAll((els) => els.map((e) => e.getAttribute("data-username")))).sort()).toEqual(["s1", "s2", "s3"]);
    for (let i = 0; i < 3; i++) {
      const canvas = tiles.nth(i).getByTestId("wall-canvas");
      await expect.poll(() => canvas.getAttribute("data-connected"), { timeout: 30_000 }).toBe("true");
      await expect.poll(() => canvasStats(canvas), { timeout: 60_000, interval: 500 }).toSatisfy((s: { width: number; colors: number; lit: number }) => s.width > 0 && s.colors >= 2 && s.lit >= 100);
      expect(await tiles.nth(i).getAttribute("data-state")).toBe("running");
    }
    await screenshot(page, "class-videowall");

    // A click opens the full console, view-only; taking control is explicit and opens a control session.
    const before = await db().auditEvent.count({ where: { action: "console.open", actorName: TEACHER.username, detail: { path: ["mode"], equals: "control" } } });
    await page.locator('[data-testid="wall-tile"][data-username="s1"] [data-testid="wall-open"]').click();
    const viewer = page.getByTestId("console-viewer");
    await viewer.waitFor();
    expect(await viewer.getAttribute("data-mode")).toBe("view");
    await expect.poll(() => viewer.getByTestId("viewer-canvas").getAttribute("data-connected"), { timeout: 30_000 }).toBe("true");
    await expect.poll(() => canvasStats(viewer.getByTestId("viewer-canvas")), { timeout: 30_000, interval: 500 }).toSatisfy((s: { width: number; lit: number }) => s.width > 0 && s.lit >= 100);
    await screenshot(page, "class-viewer");
    expect(before).toBe(0);
    await page.getByTestId("take-control").click();
    await expect.poll(() => viewer.getAttribute("data-mode")).toBe("control");
    await viewer.locator('[data-testid="console-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => db().auditEvent.count({ where: { action: "console.open", actorName: TEACHER.username, detail: { path: ["mode"], equals: "control" } } }), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => canvasStats(viewer.getByTestId("console-canvas-container")), { timeout: 30_000, interval: 500 }).toSatisfy((s: { width: number; lit: number }) => s.width > 0 && s.lit >= 100);
    await screenshot(page, "class-take-control");
    await page.getByTestId("viewer-close").click();
    await page.close();
  });

  it("a student signs in with the temporary password, must choose their own, then sees only their own VM", async () => {
    const page = await newPage();
    const temporary = passwords.get("s1")!;
    // Someone else who saw the roster signs in with the temporary password too.
    const other = await newPage();
    await signIn(other, portal.baseUrl, "s1", temporary);
    await other.waitForURL(/\/change-password/);
    await signIn(page, portal.baseUrl, "s1", temporary);
    // Sent to the change page; every page leads back to it, and the API refuses all else.
    await page.waitForURL(/\/change-password\?callbackUrl=%2F$/);
    expect(await page.getByTestId("change-password-page").getAttribute("data-required")).toBe("true");
    await page.goto(`${portal.baseUrl}/vms/${randomUUID()}`);
    await page.waitForURL(/\/change-password/);
    const refused = await page.request.get(`${portal.baseUrl}/api/v1/vms`);
    expect(refused.status()).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toContain("PASSWORD_CHANGE_REQUIRED");
    await screenshot(page, "class-student-change-password");
    await page.goto(`${portal.baseUrl}/`);
    await page.waitForURL(/\/change-password\?callbackUrl=%2F$/);

    await page.getByTestId("change-password-current").fill(temporary);
    await page.getByTestId("change-password-new").fill("s1-own-password");
    await page.getByTestId("change-password-confirm").fill("s1-own-password");
    await page.getByTestId("change-password-submit").click();
    await page.getByTestId("vm-list").waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).pathname).toBe("/");
    expect((await page.request.get(`${portal.baseUrl}/api/v1/vms`)).status()).toBe(200);
    expect((await db().user.findUniqueOrThrow({ where: { username: "s1" }, select: { mustChangePassword: true } })).mustChangePassword).toBe(false);
    // The change ended the other session instead of letting it through the gate.
    expect((await other.request.get(`${portal.baseUrl}/api/v1/vms`)).status()).toBe(401);
    await other.goto(`${portal.baseUrl}/`);
    await other.waitForURL(/\/signin/);
    await other.close();
    const own = await db().vm.findFirstOrThrow({ where: { classId: classId!, owner: { username: "s1" }, deletedAt: null }, select: { id: true } });
    await expect.poll(() => page.getByTestId("vm-card").count()).toBe(1);
    expect(await page.getByTestId("vm-card").getAttribute("data-vm-id")).toBe(own.id);
    expect(await page.getByTestId("vm-card").getAttribute("data-vm-name")).toContain("s1");
    // No Classes link for students; the join box instead.
    expect(await page.getByTestId("nav-classes").count()).toBe(0);
    await page.getByTestId("join-code-input").waitFor();
    await screenshot(page, "class-student-dashboard");
    await page.close();
  });

  it("the teacher deletes every VM of the class from its page", async () => {
    const page = await newPage();
    await signIn(page, portal.baseUrl, TEACHER.username, TEACHER.password);
    await page.goto(`${portal.baseUrl}/classes/${classId}`);
    await page.getByTestId("bulk-delete").click();
    await page.getByTestId("confirm-yes").click();
    await page.getByTestId("bulk-result").waitFor();
    expect(await page.getByTestId("bulk-result").getAttribute("data-queued")).toBe("3");
    await expect.poll(() => page.locator('[data-testid="student-row"][data-state="none"]').count(), { timeout: 90_000, interval: 500 }).toBe(3);
    expect(await db().vm.count({ where: { classId: classId!, deletedAt: null } })).toBe(0);
    await page.close();
  });
});
